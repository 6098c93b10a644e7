//! A file split over several connections, as plain data: which byte ranges of its `.part`
//! are on disk and which are missing (`RangeSet`), which range the next connection takes
//! (`Segments`: the split policy), whether a ranged answer may go into the file (`check_answer`:
//! the splice guard) and the segment sidecar that lets a later run fetch only what is missing.
//! No HTTP and no threads; the only I/O is the sidecar file.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::resume::{self, parse_content_range};

/// A split point is rounded down to a multiple of this, so connections write whole pages
/// and filesystem blocks (and no two of them share one) whenever the range allows it.
pub(crate) const SPLIT_ALIGN_BYTES: u64 = 64 * 1024;

const MAGIC: &str = "fetchpool-segments 1";

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
    /// No range smaller than this is split off (and so no range under twice this is split).
    pub min_split_bytes: u64,
    /// Connections one file may use at once, the first included.
    pub max_connections: usize,
}

/// Which connection of a file: an index into its `Segments`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SegmentId(usize);

/// One connection's share of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Active {
    /// The next byte it writes.
    pos: u64,
    /// Bytes before this are promised to its writer (read from the socket, being written).
    reserved: u64,
    /// Its range ends here; a split moves this down, never below `reserved`.
    end: u64,
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

    /// The range a new connection should fetch, or `None` when there is nothing worth
    /// splitting off. Missing bytes nobody owns (the rest of a failed connection, gaps left
    /// by an earlier run) come first: the largest such range, cut to an even share of them
    /// for `max_connections` connections (never under `min_split_bytes`), so the connections
    /// of a resumed file start on ranges of their own instead of halving a running one.
    /// Otherwise the largest remaining range of a connection in flight is halved at an
    /// aligned offset, if both halves stay at least `min_split_bytes` long. `own` is the
    /// file's own connection, which the connection cap does not count.
    pub(crate) fn claim(
        &mut self,
        policy: &SplitPolicy,
        own: bool,
    ) -> Option<(SegmentId, ByteRange)> {
        let cap = policy.max_connections.max(1);
        if !own && self.connections() >= cap {
            return None;
        }
        let unowned = self.unowned();
        if let Some(free) = unowned
            .iter()
            .copied()
            .max_by_key(|r| (r.len(), std::cmp::Reverse(r.start)))
        {
            let share = unowned
                .iter()
                .map(ByteRange::len)
                .sum::<u64>()
                .div_ceil(cap as u64);
            let min = policy.min_split_bytes.max(1);
            let piece = share.max(min);
            let end = (free.start + piece).next_multiple_of(SPLIT_ALIGN_BYTES);
            let taken = match end.checked_add(min) {
                Some(rest_end) if rest_end <= free.end => ByteRange::new(free.start, end),
                _ => free,
            };
            return Some((self.add(taken), taken));
        }
        let (idx, mid) = self
            .active
            .iter()
            .enumerate()
            .filter_map(|(i, a)| Some((i, (*a)?)))
            .filter_map(|(i, a)| Some((i, split_point(a.reserved, a.end, policy.min_split_bytes)?)))
            .max_by_key(|&(i, mid)| {
                let a = self.active[i].expect("filtered to active");
                (a.end - a.reserved, std::cmp::Reverse(i), mid)
            })?;
        let owner = self.active[idx].as_mut().expect("filtered to active");
        let taken = ByteRange::new(mid, owner.end);
        owner.end = mid;
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
            pos: range.start,
            reserved: range.start,
            end: range.end,
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
    /// written are treated as not on disk.
    pub(crate) fn release(&mut self, id: SegmentId) {
        if let Some(slot) = self.active.get_mut(id.0) {
            *slot = None;
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
    fn to_text(&self) -> String {
        let mut text = format!(
            "{MAGIC}\n{}\n{}\n{}\n",
            self.url_id, self.validator, self.total
        );
        for r in self.on_disk.ranges() {
            text.push_str(&format!("{} {}\n", r.start, r.end));
        }
        text
    }

    fn parse(text: &str) -> Option<SegmentRecord> {
        let mut lines = text.lines();
        let (url_id, validator) = resume::parse_head(&mut lines, MAGIC)?;
        let total: u64 = lines.next()?.parse().ok()?;
        let mut on_disk = RangeSet::default();
        let mut last_end = None;
        for line in lines {
            let (start, end) = line.split_once(' ')?;
            let (start, end): (u64, u64) = (start.parse().ok()?, end.parse().ok()?);
            // Written by `to_text` from a RangeSet: sorted, disjoint, non-empty, inside the file.
            if start >= end || end > total || last_end.is_some_and(|e| start <= e) {
                return None;
            }
            last_end = Some(end);
            on_disk.insert(ByteRange::new(start, end));
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

    /// Replaces `part`'s sidecar with this record in one rename, so a reader (a later run,
    /// after any kind of crash) sees the old record or the new one, never a mix. Call it only
    /// once the bytes it lists were written to `part` (and synced, with `sync`).
    pub(crate) fn save(&self, part: &Path, sync: bool) -> io::Result<()> {
        let path = resume::sidecar_path(part);
        let tmp = tmp_path(&path);
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(self.to_text().as_bytes())?;
            if sync {
                file.sync_all()?;
            }
            fs::rename(&tmp, &path)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
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
    fn idle_connections_halve_the_largest_remaining_range_at_an_aligned_offset() {
        let total = 256 * MIB;
        let mut seg = Segments::new(total, RangeSet::default());
        let p = policy(4 * MIB, 16);
        let (first, range) = seg.claim_whole().unwrap();
        assert_eq!(
            range,
            r(0, total),
            "the first connection takes the whole file"
        );
        // The first connection has 3 MiB + 5 bytes in hand.
        let res = seg.reserve(first, 3 * MIB + 5);
        assert_eq!(
            res,
            Reservation {
                offset: 0,
                len: 3 * MIB + 5
            }
        );
        let (_, second) = seg.claim(&p, false).unwrap();
        let mid = (3 * MIB + 5) + (total - 3 * MIB - 5) / 2;
        let aligned = mid - mid % SPLIT_ALIGN_BYTES;
        assert_eq!(second, r(aligned, total));
        assert_eq!(aligned % SPLIT_ALIGN_BYTES, 0);
        // The first connection may now write only up to the split.
        seg.wrote(first, 0, 3 * MIB + 5);
        let res = seg.reserve(first, total);
        assert_eq!(
            res,
            Reservation {
                offset: 3 * MIB + 5,
                len: aligned - 3 * MIB - 5
            }
        );
        // The next split takes from the larger remaining range: the second connection's.
        let (_, third) = seg.claim(&p, false).unwrap();
        assert_eq!(third.end, total);
        assert!(third.start > aligned);
        assert_eq!(seg.connections(), 3);
        assert_eq!(seg.ranges_claimed(), 3);
    }

    #[test]
    fn splitting_stops_at_twice_the_min_split_size_and_at_the_connection_cap() {
        let mut seg = Segments::new(8 * MIB, RangeSet::default());
        let p = policy(4 * MIB, 16);
        seg.claim_whole().unwrap();
        let (_, half) = seg.claim(&p, false).unwrap();
        assert_eq!(half, r(4 * MIB, 8 * MIB));
        assert_eq!(
            seg.claim(&p, false),
            None,
            "4 MiB ranges are not split at min 4 MiB"
        );

        let mut seg = Segments::new(64 * MIB, RangeSet::default());
        let p = policy(MIB, 2);
        seg.claim_whole().unwrap();
        seg.claim(&p, false).unwrap();
        assert_eq!(seg.claim(&p, false), None, "two connections at most");
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
    fn a_released_connection_returns_its_rest_which_is_claimed_whole_first() {
        let total = 64 * MIB;
        let mut seg = Segments::new(total, RangeSet::default());
        let p = policy(MIB, 16);
        let (a, _) = seg.claim_whole().unwrap();
        let (b, rb) = seg.claim(&p, false).unwrap();
        assert_eq!(rb, r(32 * MIB, total));
        let res = seg.reserve(b, MIB);
        seg.wrote(b, res.offset, res.len);
        // b is refused (429) after 1 MiB: its rest goes back.
        seg.release(b);
        assert_eq!(seg.connections(), 1);
        let (c, rc) = seg.claim(&p, false).unwrap();
        // 31 MiB unowned, 16 connections allowed: a sixteenth of it, to a 64 KiB boundary.
        let end = (33 * MIB + (31 * MIB).div_ceil(16)).next_multiple_of(SPLIT_ALIGN_BYTES);
        assert_eq!(rc, r(33 * MIB, end), "a share of the unowned rest");
        assert_ne!(c, a);
        assert!(!seg.is_done(a) && !seg.is_done(c));
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
    fn a_resumed_file_claims_only_its_gaps_largest_first() {
        let total = 100 * MIB;
        let on_disk = set(&[(0, 10 * MIB), (20 * MIB, 90 * MIB)]);
        let mut seg = Segments::new(total, on_disk);
        let p = policy(MIB, 2);
        // 20 MiB missing for 2 connections: the first takes a whole 10 MiB gap, the second
        // half of what is then unowned.
        assert_eq!(seg.claim(&p, false).unwrap().1, r(10 * MIB, 20 * MIB));
        assert_eq!(seg.claim(&p, false).unwrap().1, r(90 * MIB, 95 * MIB));
        assert_eq!(seg.claim(&p, false), None, "two connections at most");
        // The file's own connection is not counted against the cap.
        let (_, third) = seg.claim(&p, true).unwrap();
        assert_eq!(third, r(95 * MIB, 97 * MIB + MIB / 2));
        // With 8 connections allowed, each takes a share (20 MiB / 8, rounded up to 64 KiB).
        let mut seg = Segments::new(total, set(&[(0, 10 * MIB), (20 * MIB, 90 * MIB)]));
        let p = policy(MIB, 8);
        let share = (20 * MIB / 8).next_multiple_of(SPLIT_ALIGN_BYTES);
        assert_eq!(
            seg.claim(&p, false).unwrap().1,
            r(10 * MIB, 10 * MIB + share)
        );
        // A piece that would leave less than the minimum behind takes the rest.
        let mut seg = Segments::new(10 * MIB, set(&[(0, 7 * MIB + 1)]));
        assert_eq!(
            seg.claim(&policy(2 * MIB, 16), false).unwrap().1,
            r(7 * MIB + 1, 10 * MIB)
        );
        let done = Segments::new(total, set(&[(0, total)]));
        assert!(done.is_complete());
        assert_eq!(done.clone().claim(&p, false), None);
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
        assert_eq!(SegmentRecord::parse(&rec.to_text()), Some(rec.clone()));
        let text = rec.to_text();
        assert!(text.starts_with("fetchpool-segments 1\n"));
        assert!(text.ends_with("\"v1\"\n100\n0 10\n40 60\n"), "{text}");
        for broken in [
            text.replace("40 60", "40 160"),
            text.replace("40 60", "5 60"),
            text.replace("40 60", "60 40"),
            text.replace("40 60", "40"),
            text.replace("\n100\n", "\nx\n"),
            text.replace("\"v1\"", ""),
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
            SegmentRecord::parse(&nothing_yet.to_text()),
            Some(nothing_yet)
        );
    }

    #[test]
    fn segment_record_is_replaced_in_one_rename_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("big.iso.part");
        assert_eq!(SegmentRecord::read(&part), None);
        let mut rec = record();
        rec.save(&part, false).unwrap();
        assert_eq!(SegmentRecord::read(&part), Some(rec.clone()));
        rec.on_disk.insert(r(10, 40));
        rec.save(&part, true).unwrap();
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
        rec.save(&part, false).unwrap();
        assert!(!resume::Sidecar::read(&part).is_resumable());
    }
}
