//! A file split over several connections, as plain data: which byte ranges of its `.part`
//! are on disk and which are missing (`RangeSet`), whether a file is worth another
//! connection (`SplitPolicy::is_worth_splitting` on a `Throughput`, clock passed in), which
//! range the next connection takes (`Segments`), whether a ranged answer may go into the file
//! (`check_answer`: the splice guard) and the segment sidecar, with a slot per connection,
//! that lets a later run fetch only what is missing. No HTTP and no threads; the only I/O is
//! the sidecar file.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::resume::{self, parse_content_range};

/// A split point is rounded down to a multiple of this, so connections write whole pages
/// and filesystem blocks (and no two of them share one) whenever the range allows it.
pub(crate) const SPLIT_ALIGN_BYTES: u64 = 64 * 1024;

/// The sidecar's first line; version 1 had no slots, and is still read.
const MAGIC: &str = "fetchpool-segments 2";
const MAGIC_V1: &str = "fetchpool-segments 1";

/// The line between a sidecar's ranges and its slots.
const SLOTS_LINE: &str = "slots";

/// One slot line: `START END CHECK\n`, both offsets 20 digits, the check 8 hex digits.
const SLOT_LINE_BYTES: usize = 20 + 1 + 20 + 1 + 8 + 1;

/// Bytes `start..end` of a file (half-open; HTTP's `bytes=start-(end-1)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub(crate) fn new(start: u64, end: u64) -> ByteRange {
        debug_assert!(start <= end, "range {start}..{end}");
        ByteRange { start, end }
    }

    pub(crate) fn len(&self) -> u64 {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The value of a `Range` request header asking for exactly these bytes.
    pub(crate) fn header_value(&self) -> String {
        format!("bytes={}-{}", self.start, self.end - 1)
    }
}

impl fmt::Display for ByteRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// A set of byte offsets as sorted, disjoint, non-adjacent, non-empty ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RangeSet {
    ranges: Vec<ByteRange>,
}

impl RangeSet {
    /// Adds `r`, merging it with the ranges it overlaps or touches.
    pub(crate) fn insert(&mut self, r: ByteRange) {
        if r.is_empty() {
            return;
        }
        // The first range that ends at or after r.start may merge with r.
        let first = self.ranges.partition_point(|x| x.end < r.start);
        let mut merged = r;
        let mut last = first;
        while last < self.ranges.len() && self.ranges[last].start <= merged.end {
            merged.start = merged.start.min(self.ranges[last].start);
            merged.end = merged.end.max(self.ranges[last].end);
            last += 1;
        }
        self.ranges.splice(first..last, [merged]);
    }

    pub(crate) fn ranges(&self) -> &[ByteRange] {
        &self.ranges
    }

    /// How many bytes the set holds.
    pub(crate) fn bytes(&self) -> u64 {
        self.ranges.iter().map(ByteRange::len).sum()
    }

    /// The end of the run of bytes that starts at offset 0: what can be hashed in order.
    pub(crate) fn prefix_end(&self) -> u64 {
        match self.ranges.first() {
            Some(r) if r.start == 0 => r.end,
            _ => 0,
        }
    }

    /// True when the set holds every byte of `0..total`.
    pub(crate) fn covers(&self, total: u64) -> bool {
        total == 0 || self.prefix_end() >= total
    }

    /// The ranges of `0..total` the set lacks, in order.
    pub(crate) fn missing(&self, total: u64) -> Vec<ByteRange> {
        let mut out = Vec::new();
        let mut at = 0;
        for r in &self.ranges {
            if r.start >= total {
                break;
            }
            if r.start > at {
                out.push(ByteRange::new(at, r.start));
            }
            at = at.max(r.end);
        }
        if at < total {
            out.push(ByteRange::new(at, total));
        }
        out
    }
}

/// When to split: from `--min-split-size` and `--max-connections-per-file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SplitPolicy {
    /// A file under twice this is not split, and no piece is shorter than this (or
    /// `IN_ORDER_MIN_PIECE`, if that is less).
    pub min_split_bytes: u64,
    /// Connections one file may use at once, the first included.
    pub max_connections: usize,
}

/// A file is worth another connection only while one connection would still need longer
/// than this for its missing bytes, at the rate its connections moved so far (less, and
/// the ramp-up of more connections eats what they would win)...
pub(crate) const SLOW_FILE: Duration = Duration::from_millis(250);

/// ...and only while one of its connections moves less than this many bytes a second.
/// Splitting wins time only from connections that something caps (a far-away server, a CDN
/// edge); a connection this fast goes as fast as the machine (a loopback, a LAN), where
/// more connections only cost CPU: on a 2-core machine, four 256 MiB files from a loopback
/// nginx move ~500 MiB/s a connection, one file paced by the server 32 MiB/s.
pub(crate) const FAST_CONNECTION_BYTES_PER_SEC: f64 = 256.0 * 1024.0 * 1024.0;

/// ...nor while the machine's CPUs were at least this busy since the file opened (all of
/// them, this process, the server on a loopback and anything else), if one connection moves
/// more than `FAST_CONNECTION_BYTES_PER_SEC / 4`: the machine, not the server, is the limit.
const BUSY_CPU: f64 = 0.85;

/// A file's rate is believed once its connections were watched this long, if it is well
/// under the fast rate (a paced server's 32 MiB/s shows in 20 ms)...
pub(crate) const RATE_WATCH: Duration = Duration::from_millis(20);

/// ...and otherwise once they were watched this long: the first milliseconds of a fast
/// transfer (connections starting, threads waking, page cache filling) understate it.
const SURE_RATE_WATCH: Duration = Duration::from_millis(100);

/// Pieces (see `Segments::claim_as`) are at most this long...
const IN_ORDER_MAX_PIECE: u64 = 16 * 1024 * 1024;

/// ...and at least this long (or `min_split_bytes`, if smaller): at the end of the file
/// every connection holds one such piece, and what they hold is hashed after the last byte.
const IN_ORDER_MIN_PIECE: u64 = 256 * 1024;

/// A piece is about this long a transfer at its connection's rate: long enough that a
/// request per piece costs little, short enough that what a server has already pushed
/// into its socket buffers for a piece (lost if the run is killed) stays small.
const PIECE_TIME: Duration = Duration::from_millis(32);

/// ...and at least this many times the wait for an answer, so a far-away server's round
/// trip per piece costs a few percent at most.
const PIECE_LATENCIES: u32 = 16;

impl SplitPolicy {
    /// Whether a file with `missing` bytes not yet on disk is worth another connection at
    /// `now`, given what its connections moved so far (`seen`) and how busy the machine's
    /// CPUs were meanwhile (`cpu_busy`, 0 to 1; `None`: not known). Not before the rate is
    /// known (`RATE_WATCH`, or `SURE_RATE_WATCH` for a rate not far under the fast one).
    pub(crate) fn is_worth_splitting(
        &self,
        missing: u64,
        seen: &Throughput,
        now: Instant,
        cpu_busy: Option<f64>,
    ) -> bool {
        let Some(rate) = seen.per_connection(now) else {
            return false;
        };
        let slowish = rate < FAST_CONNECTION_BYTES_PER_SEC / 4.0;
        let sure = slowish || now.saturating_duration_since(seen.since) >= SURE_RATE_WATCH;
        let machine_bound = !slowish && cpu_busy.is_some_and(|busy| busy >= BUSY_CPU);
        sure && !machine_bound
            && rate < FAST_CONNECTION_BYTES_PER_SEC
            && missing as f64 > rate * SLOW_FILE.as_secs_f64()
    }

    fn in_order_floor(&self) -> u64 {
        self.min_split_bytes.clamp(1, IN_ORDER_MIN_PIECE)
    }

    /// The longest piece a connection should take, from what one connection moves a second
    /// and how long a request waits for its answer (see `PIECE_TIME`, `PIECE_LATENCIES`);
    /// `IN_ORDER_MAX_PIECE` while the rate is not known.
    pub(crate) fn max_piece(&self, per_connection: Option<f64>, latency: Duration) -> u64 {
        let Some(rate) = per_connection else {
            return IN_ORDER_MAX_PIECE;
        };
        let time = PIECE_TIME.max(latency * PIECE_LATENCIES).as_secs_f64();
        ((rate * time) as u64).clamp(self.in_order_floor(), IN_ORDER_MAX_PIECE)
    }

    /// The piece a claim takes when `left` bytes are to share among `cap` connections:
    /// at most `max_piece`, and at most half an even share, so the pieces shrink as the
    /// end nears.
    fn in_order_piece(&self, left: u64, cap: usize, max_piece: u64) -> u64 {
        (left / (2 * cap as u64))
            .min(max_piece)
            .clamp(self.in_order_floor(), IN_ORDER_MAX_PIECE)
    }
}

/// How fast one connection of a file moves bytes: what its connections received, over
/// the time they were open (connection-seconds). The clock is passed in.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Throughput {
    since: Instant,
    at: Instant,
    connections: u32,
    connection_time: Duration,
    bytes: u64,
    /// How long a request waits for its answer (a moving average).
    latency: Duration,
}

impl Throughput {
    pub(crate) fn new(now: Instant) -> Throughput {
        Throughput {
            since: now,
            at: now,
            connections: 0,
            connection_time: Duration::ZERO,
            bytes: 0,
            latency: Duration::ZERO,
        }
    }

    /// A request was answered after `waited`.
    pub(crate) fn answered(&mut self, waited: Duration) {
        self.latency = match self.latency.is_zero() {
            true => waited,
            false => (self.latency * 3 + waited) / 4,
        };
    }

    /// How long a request waits for its answer, lately.
    pub(crate) fn latency(&self) -> Duration {
        self.latency
    }

    /// The file has `n` connections from `now` on.
    pub(crate) fn connections(&mut self, n: usize, now: Instant) {
        self.connection_time = self.connection_time_at(now);
        self.at = self.at.max(now);
        self.connections = u32::try_from(n).unwrap_or(u32::MAX);
    }

    /// `n` more body bytes arrived.
    pub(crate) fn received(&mut self, n: u64) {
        self.bytes += n;
    }

    fn connection_time_at(&self, now: Instant) -> Duration {
        self.connection_time + now.saturating_duration_since(self.at) * self.connections
    }

    /// When `per_connection` starts to answer.
    pub(crate) fn watched_at(&self) -> Instant {
        self.since + RATE_WATCH
    }

    /// Bytes a second per connection, averaged since the file opened; `None` until it
    /// was watched for `RATE_WATCH`.
    pub(crate) fn per_connection(&self, now: Instant) -> Option<f64> {
        if now.saturating_duration_since(self.since) < RATE_WATCH {
            return None;
        }
        let secs = self.connection_time_at(now).as_secs_f64();
        Some(if secs > 0.0 {
            self.bytes as f64 / secs
        } else {
            0.0
        })
    }
}

/// How a connection claims a range (see `Segments::claim_as`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    /// The file's own connection: the connection cap does not count it.
    pub own: bool,
    /// It may cut a range another connection is fetching (the file is worth splitting).
    pub split_active: bool,
    /// No piece longer than this (see `SplitPolicy::max_piece`).
    pub max_piece: u64,
}

/// Which connection of a file: an index into its `Segments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SegmentId(usize);

impl SegmentId {
    /// Its index: below `Segments::slots`, and the sidecar slot it writes.
    pub(crate) fn index(self) -> usize {
        self.0
    }
}

/// One connection's share of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    /// Its range started here: it has written `start..pos`.
    start: u64,
    /// The next byte it writes.
    pos: u64,
    /// Bytes before this are promised to its writer (read from the socket, being written).
    reserved: u64,
    /// Its range ends here; a split moves this down, never below `reserved`.
    end: u64,
    /// Where the answer it asked for ends (`end` before any split): bytes up to here
    /// arrive on its connection anyway.
    asked_end: u64,
}

/// The state of one file split over connections: what is on disk, which connection owns
/// which range, and what nobody owns yet. Every connection writes only inside its range, so
/// the ranges never overlap; a connection that fails gives its rest back for another to take.
#[derive(Debug, Clone)]
pub(crate) struct Segments {
    total: u64,
    written: RangeSet,
    active: Vec<Option<Active>>,
    /// Ranges handed out so far (for the report: "N ranges").
    claimed: usize,
}

impl Segments {
    /// A file of `total` bytes, of which `on_disk` are already in the `.part`.
    pub(crate) fn new(total: u64, on_disk: RangeSet) -> Segments {
        Segments {
            total,
            written: on_disk,
            active: Vec::new(),
            claimed: 0,
        }
    }

    /// What is on disk.
    pub(crate) fn written(&self) -> &RangeSet {
        &self.written
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.written.covers(self.total)
    }

    /// Connections that own a range now.
    pub(crate) fn connections(&self) -> usize {
        self.active.iter().flatten().count()
    }

    /// Ranges handed out so far.
    pub(crate) fn ranges_claimed(&self) -> usize {
        self.claimed
    }

    /// `claim_as` for a connection that may cut a running range, with pieces up to the
    /// longest.
    #[cfg(test)]
    pub(crate) fn claim(
        &mut self,
        policy: &SplitPolicy,
        own: bool,
    ) -> Option<(SegmentId, ByteRange)> {
        let how = Claim {
            own,
            split_active: true,
            max_piece: IN_ORDER_MAX_PIECE,
        };
        self.claim_as(policy, how)
    }

    /// The range a new connection should fetch, or `None` when there is nothing worth
    /// taking: the lowest missing bytes nobody fetches, in pieces of `in_order_piece` (a
    /// share of what is left, so pieces shrink towards the end and the connections finish
    /// together), so the connections work side by side just past the prefix; the prefix
    /// grows all the time, and a file hashed in order has its digest soon after the last
    /// byte lands (halving ranges far apart would leave most of the file to hash after the
    /// download). With nothing unowned and `how.split_active`, a running range far longer
    /// than a piece (the first answer's whole file) keeps one piece, the new connection
    /// takes the next and the rest is left unowned for the following claims; a shorter one
    /// is halved at an aligned offset if both halves stay at least the smallest piece long.
    /// `how.own` is the file's own connection, which the connection cap does not count.
    pub(crate) fn claim_as(
        &mut self,
        policy: &SplitPolicy,
        how: Claim,
    ) -> Option<(SegmentId, ByteRange)> {
        let cap = policy.max_connections.max(1);
        if !how.own && self.connections() >= cap {
            return None;
        }
        let floor = policy.in_order_floor();
        let unowned = self.unowned();
        if let Some(free) = unowned.first().copied() {
            let left = unowned.iter().map(ByteRange::len).sum::<u64>();
            let piece = policy.in_order_piece(left, cap, how.max_piece);
            let end = (free.start + piece).next_multiple_of(SPLIT_ALIGN_BYTES);
            let taken = match end.checked_add(floor) {
                Some(rest_end) if rest_end <= free.end => ByteRange::new(free.start, end),
                _ => free,
            };
            return Some((self.add(taken), taken));
        }
        if !how.split_active {
            return None;
        }
        let idx = self
            .active
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((i, (*a)?)))
            .max_by_key(|&(i, a)| (a.end - a.reserved, std::cmp::Reverse(i)))?
            .0;
        let owner = self.active[idx].expect("an active connection");
        let left = owner.end - owner.reserved;
        let piece = policy.in_order_piece(left, cap, how.max_piece);
        let cut = (owner.reserved + piece).next_multiple_of(SPLIT_ALIGN_BYTES);
        let end = (cut + piece)
            .next_multiple_of(SPLIT_ALIGN_BYTES)
            .min(owner.end);
        let taken = if left >= 3 * piece && cut < end {
            ByteRange::new(cut, end)
        } else {
            let mid = split_point(owner.reserved, owner.end, floor)?;
            ByteRange::new(mid, owner.end)
        };
        self.active[idx].as_mut().expect("an active connection").end = taken.start;
        Some((self.add(taken), taken))
    }

    /// The first unowned range, whole: for a response already under way that covers it.
    pub(crate) fn claim_whole(&mut self) -> Option<(SegmentId, ByteRange)> {
        let free = *self.unowned().first()?;
        Some((self.add(free), free))
    }

    fn add(&mut self, range: ByteRange) -> SegmentId {
        self.claimed += 1;
        let active = Some(Active {
            start: range.start,
            pos: range.start,
            reserved: range.start,
            end: range.end,
            asked_end: range.end,
        });
        match self.active.iter().position(Option::is_none) {
            Some(slot) => {
                self.active[slot] = active;
                SegmentId(slot)
            }
            None => {
                self.active.push(active);
                SegmentId(self.active.len() - 1)
            }
        }
    }

    /// What connection `id` wrote of its current range (for its sidecar slot).
    pub(crate) fn written_by(&self, id: SegmentId) -> Option<ByteRange> {
        let a = self.active.get(id.0).copied().flatten()?;
        Some(ByteRange::new(a.start, a.pos))
    }

    /// How many connection slots the file has used at once (ids are below this).
    pub(crate) fn slots(&self) -> usize {
        self.active.len()
    }

    /// The parts of the file nobody has and nobody is fetching.
    fn unowned(&self) -> Vec<ByteRange> {
        let mut taken = self.written.clone();
        for a in self.active.iter().flatten() {
            taken.insert(ByteRange::new(a.pos, a.end));
        }
        taken.missing(self.total)
    }

    /// A connection has `n` more bytes in hand: how many of them are still its to write
    /// (a split may have given the rest to another connection). The writer then writes
    /// exactly those at `offset` and reports them with `wrote`.
    pub(crate) fn reserve(&mut self, id: SegmentId, n: u64) -> Reservation {
        let Some(a) = self.active.get_mut(id.0).and_then(Option::as_mut) else {
            return Reservation { offset: 0, len: 0 };
        };
        let len = n.min(a.end - a.reserved);
        let offset = a.reserved;
        a.reserved += len;
        Reservation { offset, len }
    }

    /// The `len` bytes at `offset` reserved by `id` are written; the rest of its
    /// reservation (a short read) is given back.
    pub(crate) fn wrote(&mut self, id: SegmentId, offset: u64, len: u64) {
        if let Some(a) = self.active.get_mut(id.0).and_then(Option::as_mut) {
            debug_assert_eq!(offset, a.pos, "writes of one connection come in order");
            a.pos = offset + len;
            // A split never moved `end` below the old reservation, so it is still >= pos.
            a.reserved = a.pos;
        }
        self.written.insert(ByteRange::new(offset, offset + len));
    }

    /// True when `id` has written all of its (possibly shortened) range.
    #[cfg(test)]
    fn is_done(&self, id: SegmentId) -> bool {
        self.active
            .get(id.0)
            .copied()
            .flatten()
            .is_none_or(|a| a.pos >= a.end)
    }

    /// `id` stops (its range is done, or its connection failed): whatever it did not write
    /// is unowned again, for `claim` to hand out. Bytes it reserved but did not report
    /// written are treated as not on disk. If the connection whose range was cut to make
    /// room for it still reads an answer that covers that rest (a refused extra connection:
    /// 429 on the split of the first answer), the rest goes back to it: it keeps reading
    /// instead of closing its connection mid-answer and opening another.
    pub(crate) fn release(&mut self, id: SegmentId) {
        let Some(gone) = self.active.get_mut(id.0).and_then(Option::take) else {
            return;
        };
        if gone.pos >= gone.end {
            return;
        }
        if let Some(before) = self
            .active
            .iter_mut()
            .flatten()
            .find(|a| a.end == gone.pos && a.asked_end >= gone.end)
        {
            before.end = gone.end;
        }
    }
}

/// Bytes a connection may write: `len` bytes at `offset` (`len` 0: its range is done).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Reservation {
    pub offset: u64,
    pub len: u64,
}

/// Where to split the remaining range `from..end` of a connection, if it is worth it: the
/// middle, rounded down to `SPLIT_ALIGN_BYTES` when that keeps both halves at least
/// `min_split` long.
fn split_point(from: u64, end: u64, min_split: u64) -> Option<u64> {
    let min_split = min_split.max(1);
    let remaining = end.checked_sub(from)?;
    if remaining < min_split.saturating_mul(2) {
        return None;
    }
    let mid = from + remaining / 2;
    let aligned = mid - mid % SPLIT_ALIGN_BYTES;
    Some(if aligned >= from + min_split {
        aligned
    } else {
        mid
    })
}

/// Why a ranged answer must not be written into a split file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Splice {
    /// 200 with the whole body: the validator no longer matches, or ranges are not served.
    WholeBody,
    /// 206 for other bytes than asked, or with no usable `Content-Range`.
    OtherRange { got: Option<String> },
    /// 206 saying the file now has another length.
    TotalChanged { was: u64, now: u64 },
    /// 206 carrying another validator than the first response's.
    ValidatorChanged,
}

impl fmt::Display for Splice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Splice::WholeBody => write!(
                f,
                "the server answered a range request with the whole file (changed, or ranges not served)"
            ),
            Splice::OtherRange { got: Some(got) } => {
                write!(
                    f,
                    "the server sent other bytes than asked (Content-Range: {got})"
                )
            }
            Splice::OtherRange { got: None } => {
                write!(
                    f,
                    "the server sent a partial answer without a usable Content-Range"
                )
            }
            Splice::TotalChanged { was, now } => {
                write!(f, "the file's length changed from {was} to {now} bytes")
            }
            Splice::ValidatorChanged => write!(f, "the file changed on the server (new validator)"),
        }
    }
}

/// What a ranged answer said, as far as the splice guard cares.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RangedAnswer<'a> {
    pub status: u16,
    pub content_range: Option<&'a str>,
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
}

/// Checks that a `2xx` answer to `Range: asked` + `If-Range: validator` carries exactly the
/// bytes asked for, of the same `total` and the same version of the resource. Anything else
/// would splice two versions (or two resources) into one file.
pub(crate) fn check_answer(
    answer: &RangedAnswer<'_>,
    asked: ByteRange,
    total: u64,
    validator: Option<&str>,
) -> Result<(), Splice> {
    if answer.status != 206 {
        return Err(Splice::WholeBody);
    }
    let got = answer.content_range.and_then(parse_content_range);
    let Some(got) = got else {
        return Err(Splice::OtherRange {
            got: answer.content_range.map(str::to_string),
        });
    };
    match got.total {
        Some(now) if now != total => return Err(Splice::TotalChanged { was: total, now }),
        Some(_) => {}
        // `bytes a-b/*`: the server does not know the length; ours came from the first answer.
        None => {
            return Err(Splice::OtherRange {
                got: answer.content_range.map(str::to_string),
            });
        }
    }
    if got.start != asked.start || got.end + 1 != asked.end {
        return Err(Splice::OtherRange {
            got: answer.content_range.map(str::to_string),
        });
    }
    if let Some(validator) = validator {
        // If-Range already made the server compare; when the answer also names its version
        // (a 206 carries the ETag and Last-Modified a 200 would, RFC 9110 §15.3.7), it must
        // be ours: a server that ignores If-Range but honours Range is caught here.
        let is_etag = validator.starts_with('"');
        let now = if is_etag {
            answer.etag
        } else {
            answer.last_modified
        };
        if now.is_some_and(|now| now != validator) {
            return Err(Splice::ValidatorChanged);
        }
    }
    Ok(())
}

/// What the segment sidecar `NAME.part.fetchpool` of a split file records: enough for a later
/// run to fetch only the missing ranges, under `If-Range`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentRecord {
    /// sha256 of the URL (see `resume::url_id`): no secret reaches the disk.
    pub url_id: String,
    /// Sent back as `If-Range` with every range.
    pub validator: String,
    pub total: u64,
    /// Ranges of the `.part` whose bytes were written before this record was.
    pub on_disk: RangeSet,
}

impl SegmentRecord {
    /// The text of the record, with `slots` empty slot lines after it.
    fn to_text(&self, slots: usize) -> String {
        let mut text = format!(
            "{MAGIC}\n{}\n{}\n{}\n",
            self.url_id, self.validator, self.total
        );
        for r in self.on_disk.ranges() {
            text.push_str(&format!("{} {}\n", r.start, r.end));
        }
        text.push_str(SLOTS_LINE);
        text.push('\n');
        for _ in 0..slots {
            text.push_str(&slot_line(ByteRange::new(0, 0)));
        }
        text
    }

    fn parse(text: &str) -> Option<SegmentRecord> {
        let mut lines = text.lines();
        // MAGIC_V1: a sidecar of an older fetchpool, without per-connection slots.
        let (known, url_id, validator) = resume::parse_head(&mut lines, &[MAGIC, MAGIC_V1])?;
        let version = if known == 0 { 2 } else { 1 };
        let total: u64 = lines.next()?.parse().ok()?;
        let mut on_disk = RangeSet::default();
        let mut last_end = None;
        let mut has_slots = false;
        for line in lines.by_ref() {
            if version == 2 && line == SLOTS_LINE {
                has_slots = true;
                break;
            }
            let (start, end) = line.split_once(' ')?;
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            // Written by `to_text` from a RangeSet: sorted, disjoint, non-empty, inside the file.
            if start >= end || end > total || last_end.is_some_and(|e| start <= e) {
                return None;
            }
            last_end = Some(end);
            on_disk.insert(ByteRange::new(start, end));
        }
        if version == 2 && !has_slots {
            return None;
        }
        // A slot that does not check (torn by a crash mid-write) is ignored: its bytes
        // are fetched again, never trusted.
        for line in lines {
            if let Some(r) = parse_slot(line).filter(|r| r.end <= total) {
                on_disk.insert(r);
            }
        }
        Some(SegmentRecord {
            url_id,
            validator,
            total,
            on_disk,
        })
    }

    /// The record of `part`'s sidecar, if it is a segment record (a plain resume sidecar or
    /// anything else gives `None`).
    pub(crate) fn read(part: &Path) -> Option<SegmentRecord> {
        SegmentRecord::parse(&fs::read_to_string(resume::sidecar_path(part)).ok()?)
    }

    /// Replaces `part`'s sidecar with this record and `slots` empty slots in one rename, so
    /// a reader (a later run, after any kind of crash) sees the old record or the new one,
    /// never a mix. Call it only once the bytes it lists were written to `part` (and
    /// synced, with `sync`). The returned `Slots` update the new sidecar in place.
    pub(crate) fn save(&self, part: &Path, sync: bool, slots: usize) -> io::Result<Slots> {
        let path = resume::sidecar_path(part);
        let tmp = tmp_path(&path);
        let text = self.to_text(slots);
        let result = (|| {
            let mut file = File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            file.write_all(text.as_bytes())?;
            if sync {
                file.sync_all()?;
            }
            fs::rename(&tmp, &path)?;
            Ok(file)
        })();
        match result {
            Ok(file) => Ok(Slots {
                file,
                first_at: (text.len() - slots * SLOT_LINE_BYTES) as u64,
                count: slots,
            }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }
}

/// The slot lines of a sidecar just saved: one per connection, each rewritten in place
/// (one small positional write, no rename) after every bounded chunk its connection
/// wrote, so the record follows the bytes on disk closely at little cost. Each line
/// carries a check of its own: a torn line is ignored, the rest of the record stands.
#[derive(Debug)]
pub(crate) struct Slots {
    file: File,
    first_at: u64,
    count: usize,
}

impl Slots {
    /// How many slots the sidecar has (connection ids below this have one).
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// Slot `index` now says `written` is on disk. Call it only once those bytes were
    /// written to the `.part`.
    pub(crate) fn record(&self, index: usize, written: ByteRange) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        if index >= self.count {
            return Err(io::Error::other("no such slot"));
        }
        let at = self.first_at + (index * SLOT_LINE_BYTES) as u64;
        self.file.write_all_at(slot_line(written).as_bytes(), at)
    }
}

/// `START END CHECK\n` at a fixed width; CHECK is FNV-1a (32 bit) of `START END`.
fn slot_line(r: ByteRange) -> String {
    let body = format!("{:020} {:020}", r.start, r.end);
    format!("{body} {:08x}\n", fnv1a(body.as_bytes()))
}

fn parse_slot(line: &str) -> Option<ByteRange> {
    let (body, check) = line.rsplit_once(' ')?;
    if line.len() + 1 != SLOT_LINE_BYTES
        || u32::from_str_radix(check, 16).ok()? != fnv1a(body.as_bytes())
    {
        return None;
    }
    let (start, end) = body.split_once(' ')?;
    let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
    (start <= end).then(|| ByteRange::new(start, end))
}

/// FNV-1a, 32 bit: enough to tell a torn slot line from a whole one.
fn fnv1a(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h, &b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

fn tmp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tmp");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u64, end: u64) -> ByteRange {
        ByteRange::new(start, end)
    }

    fn set(ranges: &[(u64, u64)]) -> RangeSet {
        let mut s = RangeSet::default();
        for &(a, b) in ranges {
            s.insert(r(a, b));
        }
        s
    }

    const MIB: u64 = 1024 * 1024;

    fn policy(min_split_bytes: u64, max_connections: usize) -> SplitPolicy {
        SplitPolicy {
            min_split_bytes,
            max_connections,
        }
    }

    #[test]
    fn range_set_merges_overlapping_and_touching_ranges_and_keeps_order() {
        let s = set(&[(10, 20), (30, 40), (0, 5), (20, 25), (38, 50), (5, 6)]);
        assert_eq!(s.ranges(), &[r(0, 6), r(10, 25), r(30, 50)]);
        assert_eq!(s.bytes(), 6 + 15 + 20);
        let mut s = s;
        s.insert(r(3, 35));
        assert_eq!(s.ranges(), &[r(0, 50)]);
        s.insert(r(60, 60));
        assert_eq!(s.ranges(), &[r(0, 50)], "an empty range adds nothing");
    }

    #[test]
    fn range_set_knows_what_is_missing_and_its_prefix() {
        let s = set(&[(10, 20), (30, 40)]);
        assert_eq!(s.missing(50), vec![r(0, 10), r(20, 30), r(40, 50)]);
        assert_eq!(s.missing(35), vec![r(0, 10), r(20, 30)]);
        assert_eq!(s.prefix_end(), 0);
        assert!(!s.covers(50));
        let s = set(&[(0, 20), (30, 40)]);
        assert_eq!(s.prefix_end(), 20);
        assert_eq!(set(&[(0, 50)]).missing(50), vec![]);
        assert!(set(&[(0, 50)]).covers(50));
        assert_eq!(RangeSet::default().missing(7), vec![r(0, 7)]);
        assert!(RangeSet::default().covers(0));
    }

    #[test]
    fn range_header_asks_for_the_inclusive_end() {
        assert_eq!(r(0, 1024).header_value(), "bytes=0-1023");
        assert_eq!(r(5, 6).header_value(), "bytes=5-5");
    }

    #[test]
    fn splitting_stops_at_the_connection_cap_and_at_the_smallest_piece() {
        let mut seg = Segments::new(64 * MIB, RangeSet::default());
        let p = policy(MIB, 2);
        seg.claim_whole().unwrap();
        seg.claim(&p, false).unwrap();
        assert_eq!(seg.claim(&p, false), None, "two connections at most");
        assert!(
            seg.claim(&p, true).is_some(),
            "the file's own one is not counted"
        );

        // A running range under twice the smallest piece is not cut.
        let mut seg = Segments::new(2 * IN_ORDER_MIN_PIECE - 1, RangeSet::default());
        seg.claim_whole().unwrap();
        assert_eq!(seg.claim(&policy(MIB, 16), false), None);
        let mut seg = Segments::new(2 * IN_ORDER_MIN_PIECE, RangeSet::default());
        seg.claim_whole().unwrap();
        assert_eq!(
            seg.claim(&policy(MIB, 16), false).unwrap().1,
            r(IN_ORDER_MIN_PIECE, 2 * IN_ORDER_MIN_PIECE),
            "halved"
        );
    }

    #[test]
    fn unaligned_splits_happen_when_alignment_would_break_the_minimum() {
        // 100..200: the middle 150 rounds down to 0, which is below from + min.
        assert_eq!(split_point(100, 200, 40), Some(150));
        assert_eq!(split_point(100, 200, 51), None);
        assert_eq!(split_point(0, 4 * MIB, MIB), Some(2 * MIB));
        assert_eq!(split_point(0, 10, 0), Some(5), "a min of 0 acts as 1");
    }

    #[test]
    fn a_released_connection_returns_its_rest_for_the_next_claim() {
        let total = 64 * MIB;
        let mut seg = Segments::new(total, RangeSet::default());
        let p = policy(MIB, 16);
        let (a, _) = seg.claim_whole().unwrap();
        let (b, rb) = seg.claim(&p, false).unwrap();
        let res = seg.reserve(b, MIB / 2);
        seg.wrote(b, res.offset, res.len);
        // b is refused (429) after half a MiB: its rest goes back, and is the lowest
        // missing range nobody fetches, so the next claim starts there.
        seg.release(b);
        assert_eq!(seg.connections(), 1);
        let (c, rc) = seg.claim(&p, false).unwrap();
        assert_eq!(rc.start, rb.start + MIB / 2, "{rc} after {rb}");
        assert_ne!(c, a);
        assert!(!seg.is_done(a) && !seg.is_done(c));
    }

    #[test]
    fn a_refused_extra_connection_gives_its_range_back_to_the_answer_it_was_cut_from() {
        let total = 64 * MIB;
        let mut seg = Segments::new(total, RangeSet::default());
        let p = policy(MIB, 16);
        let (first, _) = seg.claim_whole().unwrap();
        let (extra, piece) = seg.claim(&p, false).unwrap();
        let cut = piece.start;
        assert_eq!(
            seg.reserve(first, total).len,
            cut,
            "cut for the extra piece"
        );
        seg.wrote(first, 0, 0);
        // The extra connection is refused before it wrote a byte: the first answer, which
        // covers those bytes, gets them back (and the rest after them is still unowned).
        seg.release(extra);
        let res = seg.reserve(first, total);
        assert_eq!(
            res,
            Reservation {
                offset: 0,
                len: piece.end
            },
            "no longer cut"
        );
        // A piece asked for on its own answer never grows past what it asked for.
        let mut seg = Segments::new(total, RangeSet::default());
        let (a, ra) = seg.claim(&p, true).unwrap();
        let (b, rb) = seg.claim(&p, true).unwrap();
        assert_eq!(ra.end, rb.start);
        seg.release(b);
        assert_eq!(seg.reserve(a, total).len, ra.len());
    }

    #[test]
    fn segments_complete_when_every_byte_is_written_whatever_the_order() {
        let total = 10 * MIB;
        let mut seg = Segments::new(total, RangeSet::default());
        let p = policy(MIB, 4);
        let (a, _) = seg.claim_whole().unwrap();
        let (b, rb) = seg.claim(&p, false).unwrap();
        let res = seg.reserve(b, total);
        assert_eq!(res.len, rb.len());
        seg.wrote(b, res.offset, res.len);
        assert!(seg.is_done(b));
        seg.release(b);
        assert!(!seg.is_complete());
        assert_eq!(seg.written().prefix_end(), 0);
        // The rest, taken by more connections in pieces, written last to first.
        let mut pieces = Vec::new();
        while let Some((id, piece)) = seg.claim(&p, true) {
            pieces.push((id, piece));
        }
        assert!(pieces.len() > 1, "{pieces:?}");
        for (id, _) in pieces.iter().rev() {
            let res = seg.reserve(*id, total);
            seg.wrote(*id, res.offset, res.len);
            assert!(seg.is_done(*id));
            seg.release(*id);
        }
        loop {
            let res = seg.reserve(a, 300_000);
            if res.len == 0 {
                break;
            }
            seg.wrote(a, res.offset, res.len);
        }
        assert!(seg.is_done(a));
        assert!(seg.is_complete());
        assert_eq!(seg.written().prefix_end(), total);
    }

    #[test]
    fn a_resumed_file_claims_only_its_gaps_lowest_first() {
        let total = 100 * MIB;
        let on_disk = set(&[(0, 10 * MIB), (20 * MIB, 90 * MIB)]);
        let mut seg = Segments::new(total, on_disk);
        let p = policy(MIB, 2);
        // 20 MiB missing for 2 connections: pieces of a quarter of what is left (half an
        // even share), lowest first; a piece of the first gap never runs into the second.
        assert_eq!(seg.claim(&p, false).unwrap().1, r(10 * MIB, 15 * MIB));
        let second = 15 * MIB + 15 * MIB / 4;
        assert_eq!(seg.claim(&p, false).unwrap().1, r(15 * MIB, second));
        assert_eq!(seg.claim(&p, false), None, "two connections at most");
        // The file's own connection is not counted against the cap.
        let (_, third) = seg.claim(&p, true).unwrap();
        assert_eq!(third, r(second, 20 * MIB), "the rest of the first gap");
        let (_, fourth) = seg.claim(&p, true).unwrap();
        assert_eq!(fourth, r(90 * MIB, 92 * MIB + MIB / 2));
        // A piece that would leave less than the smallest piece behind takes the rest.
        let gap = IN_ORDER_MIN_PIECE + SPLIT_ALIGN_BYTES;
        let mut seg = Segments::new(10 * MIB, set(&[(0, 10 * MIB - gap)]));
        assert_eq!(
            seg.claim(&policy(2 * MIB, 16), false).unwrap().1,
            r(10 * MIB - gap, 10 * MIB)
        );
        let done = Segments::new(total, set(&[(0, total)]));
        assert!(done.is_complete());
        assert_eq!(done.clone().claim(&p, false), None);
    }

    /// `bytes` over `for_ms` on `connections` connections, watched from `t0`.
    fn throughput(t0: Instant, connections: usize, bytes: u64, for_ms: u64) -> Throughput {
        let mut seen = Throughput::new(t0);
        seen.connections(connections, t0);
        seen.received(bytes);
        seen.connections(connections, t0 + Duration::from_millis(for_ms));
        seen
    }

    #[test]
    fn throughput_is_bytes_per_connection_second_once_watched_long_enough() {
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        let mut seen = Throughput::new(t0);
        seen.connections(1, t0);
        seen.received(MIB);
        assert_eq!(seen.per_connection(ms(10)), None, "watched too briefly");
        // 1 MiB on one connection for 100 ms, then 3 MiB more on two for 100 ms.
        assert_eq!(seen.per_connection(ms(100)), Some(10.0 * MIB as f64));
        seen.connections(2, ms(100));
        seen.received(3 * MIB);
        assert_eq!(seen.per_connection(ms(200)), Some(4.0 * MIB as f64 / 0.3));
        // Nothing received yet after the watch: as slow as can be.
        let idle = throughput(t0, 1, 0, 50);
        assert_eq!(idle.per_connection(ms(50)), Some(0.0));
    }

    #[test]
    fn a_file_is_split_only_if_one_connection_would_still_take_long() {
        let p = policy(4 * MIB, 16);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let size = 256 * MIB;
        // An unthrottled loopback with four files in flight: ~500 MiB/s a connection, the
        // whole file in half a second. Not worth another connection, now or later, nor a
        // bigger file at that rate: the connection is as fast as the machine.
        let fast = throughput(t0, 1, 10 * MIB, 20);
        assert!(!p.is_worth_splitting(size - 10 * MIB, &fast, at(20), None));
        assert!(!p.is_worth_splitting(size / 2, &fast, at(20), None));
        assert!(!p.is_worth_splitting(100 * size, &fast, at(20), None));
        // A server pacing each connection at 32 MiB/s: 8 s on one connection; split at once.
        let paced = throughput(t0, 1, 640 * 1024, 20);
        assert!(p.is_worth_splitting(size, &paced, at(20), None));
        // ... until what is left takes one connection less than `SLOW_FILE`.
        assert!(p.is_worth_splitting(9 * MIB, &paced, at(20), None));
        assert!(!p.is_worth_splitting(7 * MIB, &paced, at(20), None));
        // Just under the fast rate: a slow file if there is enough of it, but only once
        // watched for `SURE_RATE_WATCH` (the start of a fast transfer understates it).
        let quick = throughput(t0, 1, 25 * MIB, 100);
        assert!(!p.is_worth_splitting(size, &quick, at(20), None));
        assert!(p.is_worth_splitting(size, &quick, at(100), None));
        assert!(!p.is_worth_splitting(60 * MIB, &quick, at(100), None));
        // ... and while the machine has CPU to spare: a loopback nginx and fetchpool
        // keeping both CPUs busy are the limit, not the server (a paced connection at
        // 32 MiB/s is slow whatever the CPUs do).
        assert!(!p.is_worth_splitting(size, &quick, at(100), Some(0.95)));
        assert!(p.is_worth_splitting(size, &quick, at(100), Some(0.5)));
        assert!(p.is_worth_splitting(size, &paced, at(20), Some(1.0)));
        // Not before the rate is known; and a connection that moved nothing yet is slow.
        assert!(!p.is_worth_splitting(size, &paced, at(5), None));
        let stuck = throughput(t0, 1, 0, 20);
        assert!(p.is_worth_splitting(size, &stuck, at(20), None));
    }

    fn claim(own: bool) -> Claim {
        Claim {
            own,
            split_active: true,
            max_piece: IN_ORDER_MAX_PIECE,
        }
    }

    #[test]
    fn a_split_file_is_handed_out_in_order_in_shrinking_pieces() {
        let total = 256 * MIB;
        let mut seg = Segments::new(total, RangeSet::default());
        let p = policy(4 * MIB, 16);
        let (first, _) = seg.claim_whole().unwrap();
        let res = seg.reserve(first, MIB);
        seg.wrote(first, res.offset, res.len);
        // The first answer keeps a piece past what it has; the next connection takes the
        // piece after it, and the rest is left for later claims, lowest bytes first.
        let piece = (total - MIB) / 32;
        let cut = (MIB + piece).next_multiple_of(SPLIT_ALIGN_BYTES);
        let (_, second) = seg.claim_as(&p, claim(false)).unwrap();
        assert_eq!(
            second,
            r(cut, (cut + piece).next_multiple_of(SPLIT_ALIGN_BYTES))
        );
        assert_eq!(seg.reserve(first, total).len, cut - MIB, "cut to one piece");
        let mut last = second;
        for _ in 0..13 {
            let (_, next) = seg.claim_as(&p, claim(false)).unwrap();
            assert_eq!(next.start, last.end, "in order");
            assert!(
                next.len() <= last.len(),
                "pieces shrink: {next} after {last}"
            );
            assert_eq!(next.end % SPLIT_ALIGN_BYTES, 0);
            last = next;
        }
        assert_eq!(seg.connections(), 15);
        // The file's own connection ignores the cap; pieces never go under the floor, and
        // the last one takes what would be left under it.
        let total = 3 * MIB + 640 * 1024;
        let mut seg = Segments::new(total, set(&[(0, 3 * MIB)]));
        let (_, a) = seg.claim_as(&p, claim(true)).unwrap();
        assert_eq!(a, r(3 * MIB, 3 * MIB + IN_ORDER_MIN_PIECE));
        let (_, b) = seg.claim_as(&p, claim(true)).unwrap();
        assert_eq!(b, r(a.end, total), "the rest, not a sliver");
        // Nothing unowned and no running range worth cutting: nothing.
        let no_split = Claim {
            split_active: false,
            ..claim(true)
        };
        assert_eq!(seg.claim_as(&p, no_split), None);
    }

    #[test]
    fn pieces_last_about_32_ms_at_the_connections_rate_or_16_round_trips() {
        let p = policy(4 * MIB, 16);
        let paced = 32.0 * MIB as f64;
        let loopback = Duration::from_micros(200);
        assert_eq!(
            p.max_piece(None, loopback),
            IN_ORDER_MAX_PIECE,
            "rate unknown"
        );
        assert_eq!(p.max_piece(Some(paced), loopback), (paced * 0.032) as u64);
        // A far-away server (50 ms to answer): 16 round trips' worth, at most 16 MiB.
        assert_eq!(
            p.max_piece(Some(4.0 * MIB as f64), Duration::from_millis(50)),
            (4.0 * MIB as f64 * 0.8) as u64
        );
        assert_eq!(
            p.max_piece(Some(paced), Duration::from_millis(50)),
            IN_ORDER_MAX_PIECE
        );
        // Never under the floor, however slow.
        assert_eq!(p.max_piece(Some(1000.0), loopback), IN_ORDER_MIN_PIECE);
        // The piece is also at most half an even share of what is left.
        assert_eq!(p.in_order_piece(256 * MIB, 16, MIB), MIB);
        assert_eq!(p.in_order_piece(16 * MIB, 16, MIB), MIB / 2);
        assert_eq!(p.in_order_piece(MIB, 16, MIB), IN_ORDER_MIN_PIECE);
        // Latency is a moving average of the answers' waits.
        let mut seen = Throughput::new(Instant::now());
        seen.answered(Duration::from_millis(8));
        seen.answered(Duration::from_millis(4));
        assert_eq!(seen.latency(), Duration::from_millis(7));
    }

    #[test]
    fn a_file_not_worth_splitting_hands_out_only_what_nobody_fetches() {
        let total = 64 * MIB;
        let mut seg = Segments::new(total, set(&[(0, 16 * MIB)]));
        let p = policy(MIB, 16);
        let how = Claim {
            own: true,
            split_active: false,
            max_piece: IN_ORDER_MAX_PIECE,
        };
        let (_, gap) = seg.claim_as(&p, how).unwrap();
        assert_eq!(gap.start, 16 * MIB, "the missing bytes are fetched");
        while seg.claim_as(&p, how).is_some() {}
        assert!(seg.unowned().is_empty());
        assert_eq!(seg.claim_as(&p, how), None, "no running range is cut");
        assert!(
            seg.claim(&p, true).is_some(),
            "one worth splitting would be"
        );
    }

    fn answer<'a>(status: u16, cr: Option<&'a str>, etag: Option<&'a str>) -> RangedAnswer<'a> {
        RangedAnswer {
            status,
            content_range: cr,
            etag,
            last_modified: None,
        }
    }

    #[test]
    fn splice_guard_accepts_exactly_the_range_asked_of_the_same_version() {
        let asked = r(100, 200);
        let v = Some("\"v1\"");
        let ok = answer(206, Some("bytes 100-199/1000"), Some("\"v1\""));
        assert_eq!(check_answer(&ok, asked, 1000, v), Ok(()));
        let no_etag = answer(206, Some("bytes 100-199/1000"), None);
        assert_eq!(check_answer(&no_etag, asked, 1000, v), Ok(()));
        let lm = RangedAnswer {
            last_modified: Some("Wed, 21 Oct 2015 07:28:00 GMT"),
            ..no_etag
        };
        assert_eq!(
            check_answer(&lm, asked, 1000, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            Ok(())
        );
        assert_eq!(
            check_answer(&lm, asked, 1000, Some("Thu, 22 Oct 2015 07:28:00 GMT")),
            Err(Splice::ValidatorChanged)
        );
    }

    #[test]
    fn splice_guard_refuses_every_other_answer() {
        let asked = r(100, 200);
        let v = Some("\"v1\"");
        let cases = [
            (answer(200, None, Some("\"v2\"")), Splice::WholeBody),
            (answer(200, None, Some("\"v1\"")), Splice::WholeBody),
            (
                answer(206, Some("bytes 0-99/1000"), Some("\"v1\"")),
                Splice::OtherRange {
                    got: Some("bytes 0-99/1000".into()),
                },
            ),
            (
                answer(206, Some("bytes 100-299/1000"), Some("\"v1\"")),
                Splice::OtherRange {
                    got: Some("bytes 100-299/1000".into()),
                },
            ),
            (
                answer(206, Some("bytes 100-199/*"), Some("\"v1\"")),
                Splice::OtherRange {
                    got: Some("bytes 100-199/*".into()),
                },
            ),
            (
                answer(206, None, Some("\"v1\"")),
                Splice::OtherRange { got: None },
            ),
            (
                answer(206, Some("garbage"), Some("\"v1\"")),
                Splice::OtherRange {
                    got: Some("garbage".into()),
                },
            ),
            (
                answer(206, Some("bytes 100-199/2000"), Some("\"v1\"")),
                Splice::TotalChanged {
                    was: 1000,
                    now: 2000,
                },
            ),
            (
                answer(206, Some("bytes 100-199/1000"), Some("\"v2\"")),
                Splice::ValidatorChanged,
            ),
        ];
        for (a, want) in cases {
            assert_eq!(check_answer(&a, asked, 1000, v), Err(want.clone()), "{a:?}");
            assert!(!want.to_string().is_empty());
        }
    }

    fn record() -> SegmentRecord {
        SegmentRecord {
            url_id: resume::url_id("http://h/big.iso"),
            validator: "\"v1\"".into(),
            total: 100,
            on_disk: set(&[(0, 10), (40, 60)]),
        }
    }

    #[test]
    fn segment_record_round_trips_and_rejects_foreign_or_broken_text() {
        let rec = record();
        assert_eq!(SegmentRecord::parse(&rec.to_text(3)), Some(rec.clone()));
        let text = rec.to_text(0);
        assert!(text.starts_with("fetchpool-segments 2\n"));
        assert!(
            text.ends_with("\"v1\"\n100\n0 10\n40 60\nslots\n"),
            "{text}"
        );
        // Version 1 (no slots) is still read.
        let v1 = text
            .replace("segments 2", "segments 1")
            .replace("slots\n", "");
        assert_eq!(SegmentRecord::parse(&v1), Some(rec.clone()));
        for broken in [
            text.replace("40 60", "40 160"),
            text.replace("40 60", "5 60"),
            text.replace("40 60", "60 40"),
            text.replace("40 60", "40"),
            text.replace("\n100\n", "\nx\n"),
            text.replace("\"v1\"", ""),
            text.replace("slots\n", ""),
            "fetchpool-part 1\nabc\n\"v\"\n".into(),
            String::new(),
        ] {
            assert_eq!(SegmentRecord::parse(&broken), None, "{broken:?}");
        }
        let nothing_yet = SegmentRecord {
            on_disk: RangeSet::default(),
            ..rec
        };
        assert_eq!(
            SegmentRecord::parse(&nothing_yet.to_text(1)),
            Some(nothing_yet)
        );
    }

    #[test]
    fn slots_record_each_connections_bytes_in_place_and_a_torn_slot_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("big.iso.part");
        let rec = record();
        let slots = rec.save(&part, false, 3).unwrap();
        assert_eq!(slots.count(), 3);
        let sidecar = resume::sidecar_path(&part);
        let len = fs::metadata(&sidecar).unwrap().len();
        slots.record(0, r(10, 25)).unwrap();
        slots.record(2, r(60, 61)).unwrap();
        slots.record(2, r(60, 70)).unwrap();
        assert!(slots.record(3, r(0, 1)).is_err(), "no fourth slot");
        assert_eq!(
            fs::metadata(&sidecar).unwrap().len(),
            len,
            "updated in place"
        );
        let read = SegmentRecord::read(&part).unwrap();
        assert_eq!(read.on_disk, set(&[(0, 25), (40, 70)]));
        // A slot torn by a crash mid-write (a changed digit) fails its check and is
        // ignored; the ranges and the other slots stand.
        let text = fs::read_to_string(&sidecar).unwrap();
        let torn = text.replacen("00000000000000000025", "00000000000000000099", 1);
        assert_ne!(torn, text);
        fs::write(&sidecar, torn).unwrap();
        let read = SegmentRecord::read(&part).unwrap();
        assert_eq!(read.on_disk, set(&[(0, 10), (40, 70)]));
        // A slot past the file's end is not believed either.
        let line = slot_line(r(90, 101));
        assert_eq!(parse_slot(line.trim_end()), Some(r(90, 101)));
        let mut text = rec.to_text(0);
        text.push_str(&line);
        assert_eq!(SegmentRecord::parse(&text).unwrap().on_disk, rec.on_disk);
    }

    #[test]
    fn segment_record_is_replaced_in_one_rename_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("big.iso.part");
        assert_eq!(SegmentRecord::read(&part), None);
        let mut rec = record();
        rec.save(&part, false, 0).unwrap();
        assert_eq!(SegmentRecord::read(&part), Some(rec.clone()));
        rec.on_disk.insert(r(10, 40));
        rec.save(&part, true, 2).unwrap();
        assert_eq!(SegmentRecord::read(&part).unwrap().on_disk, set(&[(0, 60)]));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names,
            vec!["big.iso.part.fetchpool".to_string()],
            "no temp file left"
        );
        // A plain resume sidecar is not a segment record (and the other way round).
        let mut plain = resume::Sidecar::default();
        plain.save(
            &part,
            resume::Saved {
                url_id: rec.url_id.clone(),
                validator: rec.validator.clone(),
            },
        );
        assert_eq!(SegmentRecord::read(&part), None);
        rec.save(&part, false, 0).unwrap();
        assert!(!resume::Sidecar::read(&part).is_resumable());
    }
}
