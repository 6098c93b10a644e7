//! Big files over several connections. The thread that starts a file drives it to the end
//! (`SplitFiles::drive`), fetching range after range, while idle download threads
//! (`pool.rs` asks `SplitFiles::help`) take a share of a file in flight that is slow enough
//! to be worth it. Per file: `download::segments::Segments` behind a lock, the bytes through
//! `download::segment`, the sidecar and each connection's slot in it kept in step, and a
//! thread hashing the prefix in order. Knows nothing about landing or the terminal.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use ureq::Agent;

use crate::digest::{Algo, Digest, Hasher};
use crate::download::PartLock;
use crate::download::hosts::{HostSlot, HostSlots};
use crate::download::limit::RateLimit;
use crate::download::segment::{self, End, Ledger, Target};
use crate::download::segments::{
    ByteRange, Claim, RangeSet, Reservation, SegmentId, SegmentRecord, Segments, Slots, Splice,
    SplitPolicy, Throughput,
};
use crate::error::Failure;
use crate::pool::Help;
use crate::settings::Http;

/// Each connection's slot in the sidecar is rewritten in place after every this many bytes
/// it wrote: a kill loses at most this much written work per connection, whatever the
/// link's speed. A slot write is one positional write of 51 bytes (no rename, no fsync).
const SLOT_EVERY_BYTES: u64 = 256 * 1024;

/// The sidecar has at least this many slots (more are added when more connections come).
const MIN_SLOTS: usize = 16;

/// With --fsync a record costs a sync of the `.part`: the whole sidecar is rewritten after
/// this long, or after 1/`RECORD_PARTS` of the file, whichever comes first (and always when
/// the file stops); no slots are written.
const RECORD_EVERY: Duration = Duration::from_millis(100);
const RECORD_PARTS: u64 = 64;

/// The in-order hasher is woken each time the prefix on disk grows past a multiple of this.
const HASH_STEP_BYTES: u64 = 1024 * 1024;

/// The least wait after the server refused the file's own connection (see `drive_ranges`).
const REFUSED_WAIT: Duration = Duration::from_millis(250);

/// How long a connection whose answer was cut short (closed mid-body) waits before its thread
/// opens another: a server counts the closed one until it notices (see `SplitFile::was_cut`);
/// as long as after a refusal (`REFUSED_WAIT`). Only the first answer of a file (the whole
/// file) is cut as a rule, so this idles one of its connections once.
const CUT_WAIT: Duration = Duration::from_millis(250);

/// What may give an idle thread work soon (see `SplitFiles::help`).
enum Soon {
    /// The file's rate is known at this moment (`Throughput::watched_at`).
    Judged(Instant, Arc<SplitFile>),
    /// An extra connection of the file waits for its first answer; the next may start
    /// once it has it.
    Answered(Arc<SplitFile>),
}

/// How many times an idle thread waits on a file that may want it soon before it goes back
/// to the pool (which looks again every `pool::IDLE_LOOK`).
const RAMP_LOOKS: usize = 8;

/// How often a waiting connection looks again (a condvar wakes it sooner).
const IDLE_LOOK: Duration = Duration::from_millis(20);

/// The network side every connection of a run shares.
pub(crate) struct Net<'a> {
    pub agent: &'a Agent,
    pub http: &'a Http,
    pub limit: Option<&'a RateLimit>,
    pub cancel: &'a AtomicBool,
    pub host_slots: Option<&'a HostSlots>,
}

/// The split files of a run, and when to split.
pub(crate) struct SplitFiles {
    pub policy: SplitPolicy,
    files: Mutex<Vec<Arc<SplitFile>>>,
}

/// What the reporter samples of a file: bytes on disk, connections now.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    pub bytes_done: Arc<AtomicU64>,
    pub connections: Arc<AtomicUsize>,
}

/// One file being fetched over several connections.
pub(crate) struct SplitFile {
    url: String,
    host: String,
    part: PathBuf,
    file: File,
    /// This run's advisory lock on the `.part`, handed to the landing with the bytes.
    part_lock: Option<Arc<PartLock>>,
    /// The machine's CPU times when the file opened (see `is_worth_splitting`).
    cpu_at_open: Option<CpuTimes>,
    /// Sent as If-Range with every range; also what the sidecar records.
    validator: Option<String>,
    url_id: String,
    total: u64,
    /// --fsync: the data is synced before a sidecar records it.
    fsync: bool,
    progress: Progress,
    received: AtomicU64,
    state: Mutex<State>,
    changed: Condvar,
    stopped: AtomicBool,
}

struct State {
    segments: Segments,
    /// Connections this file may use now: the policy's cap, lowered by each refusal.
    max_connections: usize,
    /// The most connections it had at once (for the report).
    most_connections: usize,
    /// Extra connections that failed other than by a refusal; past the retry budget the
    /// file stops splitting.
    helper_failures: u32,
    /// Extra connections (idle threads helping) that own a range now. The file's own
    /// connection always counts against `max_connections`, even between two of its ranges.
    helpers: usize,
    /// Extra connections whose request has no answer yet.
    awaiting: Vec<SegmentId>,
    splice: Option<Splice>,
    /// What one connection of the file moves a second: whether splitting is worth it.
    rate: Throughput,
    last_record: Instant,
    /// Bytes on disk when the sidecar was last written.
    recorded_bytes: u64,
    /// The slots of the sidecar last written (none with --fsync, or without a validator).
    slots: Option<Slots>,
    /// Per connection id: bytes it wrote since its slot was last recorded, and whether
    /// its slot holds bytes the sidecar's ranges do not.
    unrecorded: Vec<u64>,
    in_slot: Vec<bool>,
}

/// How a split file ended.
#[derive(Debug)]
pub(crate) enum Driven {
    /// Every byte is in the `.part`; `digest` when one was asked for (hashed in order as
    /// the prefix grew).
    Complete {
        digest: Option<Digest>,
        stats: SplitStats,
    },
    /// An answer would have spliced two versions: nothing of the `.part` can be trusted.
    /// The caller removes it and its sidecar, and fetches the file again as one stream.
    Splice { why: Splice, stats: SplitStats },
    /// The file failed (or the run was interrupted); a resumable `.part` and its sidecar are
    /// kept, anything else removed.
    Failed { failure: Failure, stats: SplitStats },
}

/// What the report says about a split file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SplitStats {
    /// The most connections it had at once.
    pub connections: usize,
    /// Ranges fetched (or started).
    pub ranges: usize,
    /// Body bytes received in this run, all connections together.
    pub received: u64,
}

impl SplitFiles {
    pub(crate) fn new(policy: SplitPolicy) -> SplitFiles {
        SplitFiles {
            policy,
            files: Mutex::new(Vec::new()),
        }
    }

    /// Whether a first answer may be split: a length worth splitting, ranges served, and a
    /// validator for If-Range or a digest that will catch a splice (RFC 9110 §14.3, §13.1.5).
    pub(crate) fn should_split(
        &self,
        offer: &segment::SplitOffer,
        has_digest: bool,
        may_split: bool,
    ) -> bool {
        may_split
            && self.policy.max_connections > 1
            && offer.ranges
            && offer.total >= self.policy.min_split_bytes.saturating_mul(2)
            && (offer.validator.is_some() || has_digest)
    }

    /// Opens (creates, or with `on_disk` resumes) `part` as a split file of `total` bytes.
    #[expect(
        clippy::too_many_arguments,
        reason = "one file's identity, as the caller has it"
    )]
    pub(crate) fn open(
        &self,
        url: &str,
        host: &str,
        part: &Path,
        total: u64,
        validator: Option<String>,
        on_disk: Option<RangeSet>,
        fsync: bool,
        progress: Progress,
    ) -> Result<Arc<SplitFile>, Failure> {
        use std::os::unix::fs::OpenOptionsExt;
        let resumed = on_disk.is_some();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .read(true)
            .create(!resumed)
            .truncate(false)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .open(part)
            .map_err(|e| Failure::io("create", part, &e))?;
        // The `.part` is this run's before a byte of it changes: another run's is left
        // alone (`Busy`), never truncated under it.
        let mut part_lock = None;
        PartLock::hold(&file, part, &mut part_lock)?;
        // The whole length at once: positional writes land anywhere in it, and a resumed
        // file is known to be complete in size. What an earlier, unresumed `.part` held is
        // never read: every byte not in `on_disk` is written before the file lands. Not
        // emptied first: ext4 flushes a file truncated to 0 when it is closed
        // (`auto_da_alloc`), which held the landing of a 256 MiB file for ~120 ms.
        file.set_len(total)
            .map_err(|e| Failure::io("allocate", part, &e))?;
        let on_disk = on_disk.unwrap_or_default();
        progress
            .bytes_done
            .store(on_disk.bytes(), Ordering::Relaxed);
        let split = SplitFile {
            url: url.to_string(),
            host: host.to_string(),
            part: part.to_path_buf(),
            file,
            part_lock,
            url_id: crate::download::resume::url_id(url),
            cpu_at_open: CpuTimes::read(),
            validator,
            total,
            fsync,
            progress,
            received: AtomicU64::new(0),
            state: Mutex::new(State {
                segments: Segments::new(total, on_disk),
                max_connections: self.policy.max_connections,
                most_connections: 0,
                helper_failures: 0,
                helpers: 0,
                awaiting: Vec::new(),
                splice: None,
                rate: Throughput::new(Instant::now()),
                last_record: Instant::now(),
                recorded_bytes: 0,
                slots: None,
                unrecorded: Vec::new(),
                in_slot: Vec::new(),
            }),
            changed: Condvar::new(),
            stopped: AtomicBool::new(false),
        };
        // The record exists from the first byte on: a kill at any point leaves a `.part`
        // a later run can resume (or knows to discard).
        split.save_record(&mut split.lock());
        Ok(Arc::new(split))
    }

    /// The thread that started `file` fetches ranges of it until every byte is on disk (or
    /// the file fails); `first` is the unread body of its first response, which covers the
    /// whole file. Meanwhile idle threads may help (see `help`). With `hash`, a thread of
    /// its own hashes the file in order as the prefix on disk grows.
    pub(crate) fn drive(
        &self,
        net: &Net<'_>,
        file: &Arc<SplitFile>,
        first: Option<ureq::Body>,
        hash: Option<Algo>,
    ) -> Driven {
        // A first response under way carries the file from byte 0: its connection owns all
        // of it before any idle thread can see the file (and take a share from byte 0).
        let first = first.and_then(|body| Some((file.claim_whole()?, body)));
        lock(&self.files).push(Arc::clone(file));
        let (result, digest) = std::thread::scope(|scope| {
            let hasher = hash.map(|algo| scope.spawn(move || file.hash_in_order(algo, net.cancel)));
            let result = self.drive_ranges(net, file, first);
            // Helpers see the file stop (or find nothing left) and let go of it.
            file.stop();
            lock(&self.files).retain(|f| !Arc::ptr_eq(f, file));
            file.wait_for_connections();
            file.changed.notify_all();
            let digest = hasher.and_then(|h| h.join().ok().flatten());
            (result, digest)
        });
        let mut state = file.lock();
        let stats = SplitStats {
            connections: state.most_connections,
            ranges: state.segments.ranges_claimed(),
            received: file.received.load(Ordering::Relaxed),
        };
        if let Some(why) = state.splice.clone() {
            return Driven::Splice { why, stats };
        }
        file.save_record(&mut state);
        drop(state);
        match result {
            Ok(()) => {
                if file.fsync
                    && let Err(e) = file.file.sync_all()
                {
                    return Driven::Failed {
                        failure: Failure::io("fsync", &file.part, &e),
                        stats,
                    };
                }
                // A digest is usable only if the hasher saw every byte.
                Driven::Complete { digest, stats }
            }
            Err(failure) => Driven::Failed { failure, stats },
        }
    }

    fn drive_ranges(
        &self,
        net: &Net<'_>,
        file: &Arc<SplitFile>,
        first: Option<((SegmentId, ByteRange), ureq::Body)>,
    ) -> Result<(), Failure> {
        let policy = &net.http.backoff;
        let mut failures = 0u32;
        let mut first = first;
        loop {
            if net.cancel.load(Ordering::Relaxed) {
                return Err(Failure::Interrupted);
            }
            if file.lock().splice.is_some() {
                return Err(Failure::Interrupted);
            }
            // The driving connection ignores the per-file cap: it is the file's own. The
            // first response's range was claimed before the file was shown to helpers.
            let claimed = match &first {
                Some((claimed, _)) => Some(*claimed),
                None => file.claim(&self.policy),
            };
            let Some((id, range)) = claimed else {
                if file.lock().segments.is_complete() {
                    return Ok(());
                }
                // Helpers own what is left: wait for one to finish or give a range back.
                file.wait_changed(IDLE_LOOK * 5);
                continue;
            };
            let mut received = 0;
            let target = file.target(net);
            let end = match first.take() {
                Some((_, body)) => {
                    debug_assert_eq!(range.start, 0, "a first response starts at byte 0");
                    let reader = body.into_with_config().limit(u64::MAX).reader();
                    segment::write_body(reader, range.end, &target, &**file, id, &mut received)
                }
                None => segment::fetch_range(net.agent, &target, &**file, id, range, &mut received),
            };
            file.received.fetch_add(received, Ordering::Relaxed);
            let cut = end == End::Done && file.was_cut(id, range.end);
            file.release(id);
            if cut {
                // Its answer went on past the range (another connection has those bytes):
                // the connection was closed mid-answer; give the server a moment to see it
                // before this connection opens another (--max-per-host counts both).
                file.wait_until(Instant::now() + CUT_WAIT, net.cancel);
            }
            let refused = matches!(end, End::Refused(_));
            match end {
                End::Done => failures = 0,
                End::Stopped => {
                    return Err(if net.cancel.load(Ordering::Relaxed) {
                        Failure::Interrupted
                    } else {
                        Failure::Transport("stopped".into())
                    });
                }
                End::Splice(why) => {
                    file.lock().splice = Some(why);
                    return Err(Failure::Interrupted);
                }
                End::Refused(_) if file.lock().segments.connections() > 0 => {
                    // Other connections of this file work: the server wants fewer of them.
                    // Give the range back, use fewer, and try again when one is done.
                    let mut state = file.lock();
                    state.max_connections = state.segments.connections().max(1);
                    drop(state);
                    file.wait_changed(IDLE_LOOK * 5);
                }
                End::Refused(failure) | End::Failed(failure) => {
                    if received > 0 {
                        failures = 0;
                    }
                    failures += 1;
                    if !failure.is_transient() || failures > policy.retries {
                        return Err(failure);
                    }
                    let retry_after = match &failure {
                        Failure::Http { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let mut wait = policy.delay(failures, retry_after, 0.5);
                    if refused {
                        // A server at its limit may still count the connection this file
                        // just closed (a range cut short by a split): give it time.
                        wait = wait.max(REFUSED_WAIT);
                    }
                    let until = Instant::now() + wait;
                    while Instant::now() < until {
                        if net.cancel.load(Ordering::Relaxed) {
                            return Err(Failure::Interrupted);
                        }
                        std::thread::sleep((until - Instant::now()).min(IDLE_LOOK * 2));
                    }
                }
            }
        }
    }

    /// An idle download thread looks for a range of a file in flight to fetch.
    pub(crate) fn help(&self, net: &Net<'_>) -> Help {
        // A file about to be judged, or ramping up, may want this thread in a moment: wait
        // for that on the file itself (a few times, at most RAMP_LOOKS), not a pool nap.
        for _ in 0..RAMP_LOOKS {
            match self.try_help(net) {
                (Help::Wait, Some(Soon::Judged(at, file))) => file.wait_until(at, net.cancel),
                (Help::Wait, Some(Soon::Answered(file))) => file.wait_changed(IDLE_LOOK),
                (help, _) => return help,
            }
        }
        self.try_help(net).0
    }

    /// `help`, once; with `Help::Wait`, also what may change that soon.
    fn try_help(&self, net: &Net<'_>) -> (Help, Option<Soon>) {
        if net.cancel.load(Ordering::Relaxed) {
            return (Help::Idle, None);
        }
        let files = lock(&self.files).clone();
        if files.is_empty() {
            return (Help::Idle, None);
        }
        let now = Instant::now();
        let ramping = files
            .iter()
            .find(|f| !f.lock().awaiting.is_empty())
            .map(|f| Soon::Answered(Arc::clone(f)));
        let judged = files
            .iter()
            .map(|f| (f.lock().rate.watched_at(), f))
            .filter(|(at, _)| *at > now)
            .min_by_key(|(at, _)| *at)
            .map(|(at, f)| Soon::Judged(at, Arc::clone(f)));
        let soonest = ramping.or(judged);
        // The file with the most bytes left first.
        let mut order: Vec<(u64, &Arc<SplitFile>)> = files
            .iter()
            .map(|f| (f.total - f.lock().segments.written().bytes(), f))
            .collect();
        order.sort_by_key(|(left, _)| std::cmp::Reverse(*left));
        for (_, file) in order {
            let slot: Option<HostSlot<'_>> = match net.host_slots {
                Some(slots) => match slots.try_take(&file.host) {
                    Some(slot) => Some(slot),
                    None => continue,
                },
                None => None,
            };
            let Some((id, range)) = file.claim_extra(&self.policy) else {
                continue;
            };
            // Should the fetch panic (a bug), the range goes back and the helper is no
            // longer counted, so the file's own thread never waits for it.
            let mut helping = Helping {
                file,
                id,
                done: false,
            };
            let mut received = 0;
            let end = segment::fetch_range(
                net.agent,
                &file.target(net),
                &**file,
                id,
                range,
                &mut received,
            );
            helping.done = true;
            file.received.fetch_add(received, Ordering::Relaxed);
            let cut = end == End::Done && file.was_cut(id, range.end);
            file.release(id);
            if cut {
                // As in `drive_ranges`: still counted, on the host and in the file, while
                // the server sees the closed connection go.
                file.wait_until(Instant::now() + CUT_WAIT, net.cancel);
            }
            drop(slot);
            file.lock().helpers -= 1;
            let mut state = file.lock();
            match end {
                End::Done | End::Stopped => {}
                // Not now, not this many: its range went back; this file uses fewer
                // connections from now on (never fewer than its own).
                End::Refused(_) => {
                    state.max_connections = state.segments.connections().max(1);
                }
                End::Splice(why) => {
                    state.splice.get_or_insert(why);
                    drop(state);
                    file.stop();
                }
                End::Failed(_) => {
                    state.helper_failures += 1;
                    if state.helper_failures > net.http.backoff.retries {
                        state.max_connections = 1;
                    }
                }
            }
            file.changed.notify_all();
            return (Help::Helped, None);
        }
        (Help::Wait, soonest)
    }
}

impl SplitFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The `.part`'s lock, to be held until the file has landed.
    pub(crate) fn part_lock(&self) -> Option<Arc<PartLock>> {
        self.part_lock.clone()
    }

    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    fn target<'a>(&'a self, net: &Net<'a>) -> Target<'a> {
        Target {
            url: &self.url,
            http: net.http,
            limit: net.limit,
            file: &self.file,
            part: &self.part,
            validator: self.validator.as_deref(),
            total: self.total,
            bytes_done: &self.progress.bytes_done,
            cancel: net.cancel,
        }
    }

    /// The next range for the file's own connection: missing bytes nobody fetches, or a
    /// share of a running range when the file is worth splitting.
    fn claim(&self, policy: &SplitPolicy) -> Option<(SegmentId, ByteRange)> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.lock();
        let how = Claim {
            own: true,
            split_active: self.is_worth_splitting(policy, &state),
            max_piece: Self::max_piece(policy, &state),
        };
        let claimed = state.segments.claim_as(policy, how)?;
        self.count_connections(&mut state);
        Some(claimed)
    }

    /// The longest piece a connection takes now (see `SplitPolicy::max_piece`).
    fn max_piece(policy: &SplitPolicy, state: &State) -> u64 {
        let rate = state.rate.per_connection(Instant::now());
        policy.max_piece(rate, state.rate.latency())
    }

    /// Whether another connection would win time (see `SplitPolicy::is_worth_splitting`).
    /// Once the file had that many at once, a connection that finished its range takes
    /// another without asking again: the bytes left shrink, the reason to split does not.
    fn is_worth_splitting(&self, policy: &SplitPolicy, state: &State) -> bool {
        let missing = self.total - state.segments.written().bytes();
        if state.segments.connections() < state.most_connections {
            return true;
        }
        let cpu_busy = CpuTimes::read().and_then(|now| now.busy_since(self.cpu_at_open?));
        policy.is_worth_splitting(missing, &state.rate, Instant::now(), cpu_busy)
    }

    /// A range for an idle thread: only while the file's own connection and the helpers
    /// already there leave room under its (possibly lowered) connection cap.
    fn claim_extra(&self, policy: &SplitPolicy) -> Option<(SegmentId, ByteRange)> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let mut state = self.lock();
        if state.helpers + 1 >= state.max_connections || !self.is_worth_splitting(policy, &state) {
            return None;
        }
        // New connections ramp up as TCP does: no more waiting for their first answer
        // than there are connections with one, so a server that takes fewer than we would
        // like refuses one or two, not fifteen at once (and answers in microseconds on a
        // loopback, one round trip far away).
        let awaiting = state.awaiting.len();
        if awaiting >= (state.segments.connections() - awaiting).max(1) {
            return None;
        }
        let policy = SplitPolicy {
            max_connections: state.max_connections,
            ..*policy
        };
        let how = Claim {
            own: true,
            split_active: true,
            max_piece: Self::max_piece(&policy, &state),
        };
        let claimed = state.segments.claim_as(&policy, how)?;
        state.awaiting.push(claimed.0);
        state.helpers += 1;
        self.count_connections(&mut state);
        Some(claimed)
    }

    fn claim_whole(&self) -> Option<(SegmentId, ByteRange)> {
        let mut state = self.lock();
        let claimed = state.segments.claim_whole()?;
        self.count_connections(&mut state);
        Some(claimed)
    }

    /// Whether connection `id`, asked for bytes up to `asked_end`, stopped short of it
    /// because its range was given to another (its answer was not read to the end).
    fn was_cut(&self, id: SegmentId, asked_end: u64) -> bool {
        self.lock()
            .segments
            .written_by(id)
            .is_some_and(|w| w.end < asked_end)
    }

    fn release(&self, id: SegmentId) {
        let mut state = self.lock();
        state.awaiting.retain(|&a| a != id);
        // Its slot is about to be free for another range: the whole record takes over
        // what the slot said (and anything it had not said yet).
        let i = id.index();
        if !self.fsync
            && (state.unrecorded.get(i).is_some_and(|&n| n > 0)
                || state.in_slot.get(i).is_some_and(|&b| b))
        {
            self.save_record(&mut state);
        }
        state.segments.release(id);
        self.count_connections(&mut state);
        drop(state);
        self.changed.notify_all();
    }

    fn count_connections(&self, state: &mut State) {
        let now = state.segments.connections();
        state.rate.connections(now, Instant::now());
        state.most_connections = state.most_connections.max(now);
        // Between two ranges the file still has its own connection.
        self.progress
            .connections
            .store(now.max(1), Ordering::Relaxed);
    }

    fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.changed.notify_all();
    }

    fn wait_changed(&self, at_most: Duration) {
        let state = self.lock();
        let _ = self
            .changed
            .wait_timeout(state, at_most)
            .unwrap_or_else(PoisonError::into_inner);
    }

    /// Until `at`, or sooner if the file is complete or stops, or the run is interrupted.
    fn wait_until(&self, at: Instant, cancel: &AtomicBool) {
        let mut state = self.lock();
        loop {
            let now = Instant::now();
            if now >= at
                || state.segments.is_complete()
                || self.stopped.load(Ordering::Relaxed)
                || cancel.load(Ordering::Relaxed)
            {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, (at - now).min(IDLE_LOOK))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Until no connection owns a range (they see `stopped` at their next read).
    fn wait_for_connections(&self) {
        let mut state = self.lock();
        while state.segments.connections() > 0 {
            state = self
                .changed
                .wait_timeout(state, IDLE_LOOK)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Writes the sidecar from `state`: only ranges whose bytes were written are in it,
    /// and empty slots for the connections to fill in (see `record_slot`). Without a
    /// validator a later run could not resume safely, so there is no sidecar.
    fn save_record(&self, state: &mut State) {
        let Some(validator) = &self.validator else {
            return;
        };
        if self.fsync {
            let _ = self.file.sync_data();
        }
        let record = SegmentRecord {
            url_id: self.url_id.clone(),
            validator: validator.clone(),
            total: self.total,
            on_disk: state.segments.written().clone(),
        };
        let slots = match self.fsync {
            true => 0,
            false => state.segments.slots().max(MIN_SLOTS),
        };
        // A failed write leaves the previous record and its slots, which are still true.
        if let Ok(saved) = record.save(&self.part, self.fsync, slots) {
            state.slots = (!self.fsync).then_some(saved);
            state.unrecorded.iter_mut().for_each(|n| *n = 0);
            state.in_slot.iter_mut().for_each(|b| *b = false);
            state.last_record = Instant::now();
            state.recorded_bytes = state.segments.written().bytes();
        }
    }

    /// After `id` wrote `len` more bytes: its slot says so once it has a slot's worth
    /// unrecorded (--fsync: the whole record, on its own slower cadence).
    fn record_slot(&self, state: &mut State, id: SegmentId, len: u64) {
        if self.validator.is_none() {
            return;
        }
        if self.fsync {
            let on_disk = state.segments.written().bytes();
            if state.last_record.elapsed() >= RECORD_EVERY
                || on_disk - state.recorded_bytes >= self.total / RECORD_PARTS
            {
                self.save_record(state);
            }
            return;
        }
        let i = id.index();
        if state.unrecorded.len() <= i {
            state.unrecorded.resize(i + 1, 0);
            state.in_slot.resize(i + 1, false);
        }
        state.unrecorded[i] += len;
        if state.unrecorded[i] < SLOT_EVERY_BYTES {
            return;
        }
        let written = state.segments.written_by(id);
        let recorded = match (&state.slots, written) {
            (Some(slots), Some(written)) if i < slots.count() => slots.record(i, written).is_ok(),
            _ => false,
        };
        if recorded {
            state.unrecorded[i] = 0;
            state.in_slot[i] = true;
        } else {
            // More connections than slots (or no sidecar yet): a new record, with more.
            self.save_record(state);
        }
    }

    /// Hashes the file from its first byte as the prefix on disk grows, reading it back
    /// (from the page cache, just written) in order. `None` if stopped before the end.
    fn hash_in_order(&self, algo: Algo, cancel: &AtomicBool) -> Option<Digest> {
        use std::os::unix::fs::FileExt;
        let mut hasher = Hasher::new(algo);
        let mut buf = vec![0u8; 1024 * 1024];
        let mut hashed = 0u64;
        while hashed < self.total {
            let ready = {
                let mut state = self.lock();
                loop {
                    let ready = state.segments.written().prefix_end();
                    if ready > hashed {
                        break ready;
                    }
                    if cancel.load(Ordering::Relaxed)
                        || state.splice.is_some()
                        || (self.stopped.load(Ordering::Relaxed)
                            && state.segments.connections() == 0)
                    {
                        return None;
                    }
                    state = self
                        .changed
                        .wait_timeout(state, IDLE_LOOK * 5)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
            };
            while hashed < ready {
                let n = (ready - hashed).min(buf.len() as u64) as usize;
                self.file.read_exact_at(&mut buf[..n], hashed).ok()?;
                hasher.update(&buf[..n]);
                hashed += n as u64;
            }
        }
        Some(hasher.finish())
    }
}

impl Ledger for SplitFile {
    fn reserve(&self, id: SegmentId, n: u64) -> Reservation {
        self.lock().segments.reserve(id, n)
    }

    fn wrote(&self, id: SegmentId, offset: u64, len: u64) {
        let mut state = self.lock();
        let prefix_before = state.segments.written().prefix_end();
        state.segments.wrote(id, offset, len);
        state.rate.received(len);
        self.record_slot(&mut state, id, len);
        // The hasher is woken per MiB of prefix (and at the end), not per write.
        let prefix = state.segments.written().prefix_end();
        let grew = prefix / HASH_STEP_BYTES > prefix_before / HASH_STEP_BYTES
            || (prefix > prefix_before && prefix == self.total);
        drop(state);
        if grew || len == 0 {
            self.changed.notify_all();
        }
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    fn answered(&self, id: SegmentId, waited: Duration) {
        let mut state = self.lock();
        state.rate.answered(waited);
        state.awaiting.retain(|&a| a != id);
        drop(state);
        // The next connection may start now (see `claim_extra`).
        self.changed.notify_all();
    }
}

/// An idle thread's range of a split file while it fetches it (see `SplitFiles::help`).
struct Helping<'a> {
    file: &'a SplitFile,
    id: SegmentId,
    /// The fetch returned: `help` books its end itself.
    done: bool,
}

impl Drop for Helping<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.file.lock().helpers -= 1;
            self.file.release(self.id);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The machine's CPU time so far, all CPUs together (the `cpu` line of `/proc/stat`, in
/// clock ticks): busy and in all. `None` where there is no such file.
#[derive(Debug, Clone, Copy)]
struct CpuTimes {
    busy: u64,
    total: u64,
}

impl CpuTimes {
    fn read() -> Option<CpuTimes> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let line = stat.lines().next()?.strip_prefix("cpu ")?;
        // user nice system idle iowait irq softirq steal ...: idle and iowait are not busy.
        let ticks: Vec<u64> = line
            .split_whitespace()
            .take(8)
            .filter_map(|t| t.parse().ok())
            .collect();
        if ticks.len() < 8 {
            return None;
        }
        let total: u64 = ticks.iter().sum();
        Some(CpuTimes {
            busy: total - ticks[3] - ticks[4],
            total,
        })
    }

    /// The fraction of CPU time that was busy since `then` (`None` if no tick passed).
    fn busy_since(self, then: CpuTimes) -> Option<f64> {
        let total = self.total.checked_sub(then.total).filter(|&t| t > 0)?;
        Some(self.busy.saturating_sub(then.busy) as f64 / total as f64)
    }
}
