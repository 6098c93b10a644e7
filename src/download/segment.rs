//! One connection's share of a split file: a `Range` + `If-Range` request for the bytes a
//! `Ledger` hands it, the splice guard on the answer, and the body written with positional
//! writes at its offsets in the shared `.part`. Knows nothing about which connection gets
//! which range (that is `segments.rs` and the pool), final names or the terminal.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use ureq::Agent;

use super::http;
use super::limit::RateLimit;
use super::segments::{ByteRange, RangedAnswer, Reservation, SegmentId, Splice, check_answer};
use super::{COPY_BUF, COPY_BUF_BYTES};
use crate::error::Failure;
use crate::settings::Http;

/// Where a connection's bytes are accounted: which of them are still its to write, and
/// which are written. Implemented over the file's shared `Segments`.
pub(crate) trait Ledger {
    /// Of `n` bytes in hand, the ones `id` may write (at their offset).
    fn reserve(&self, id: SegmentId, n: u64) -> Reservation;
    /// `len` bytes at `offset` are in the file.
    fn wrote(&self, id: SegmentId, offset: u64, len: u64);
    /// The range request of `id` was answered (its head read) after `waited`.
    fn answered(&self, id: SegmentId, waited: std::time::Duration);
    /// The file gave up (a splice elsewhere, a failure, an interrupt): stop now.
    fn is_stopped(&self) -> bool;
}

/// What every connection of one file shares.
pub(crate) struct Target<'a> {
    pub url: &'a str,
    pub http: &'a Http,
    pub limit: Option<&'a RateLimit>,
    /// The `.part`, open for writing; written only with positional writes.
    pub file: &'a File,
    pub part: &'a Path,
    /// From the first response: sent as `If-Range` with every range.
    pub validator: Option<&'a str>,
    /// From the first response: every answer must agree.
    pub total: u64,
    /// Bytes of the file on disk, all connections together (the progress bar reads it).
    pub bytes_done: &'a AtomicU64,
    pub cancel: &'a AtomicBool,
}

/// How a connection's work on its range ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum End {
    /// Its range is written (or was given to another connection before it got there).
    Done,
    /// The file stopped (see `Ledger::is_stopped`) or the run was interrupted.
    Stopped,
    /// The server would not serve this connection now: 429, 503, a refused or reset
    /// connection. Its range goes back to the file.
    Refused(Failure),
    /// The answer would splice another version (or other bytes) into the file.
    Splice(Splice),
    /// Any other failure (a stall, a short body, a 4xx, a write error).
    Failed(Failure),
}

/// Fetches `range` for connection `id` and writes what the ledger lets it. `received`
/// counts body bytes read from the network.
pub(crate) fn fetch_range(
    agent: &Agent,
    target: &Target<'_>,
    ledger: &dyn Ledger,
    id: SegmentId,
    range: ByteRange,
    received: &mut u64,
) -> End {
    let header = range.header_value();
    let mut extra: Vec<(&str, &str)> = vec![("Range", &header)];
    if let Some(validator) = target.validator {
        // If-Range: a changed resource answers 200 with the whole body, which the guard
        // below refuses (RFC 9110 §13.1.5).
        extra.push(("If-Range", validator));
    }
    let asked = Instant::now();
    let response = match http::get(agent, target.http, target.url, &extra) {
        Ok(response) => response,
        Err(failure) => return refused_or_failed(failure),
    };
    ledger.answered(id, asked.elapsed());
    let status = response.status().as_u16();
    let value = |name: &str| http::header(&response, name);
    if !(200..300).contains(&status) {
        return refused_or_failed(http::status_failure(&response));
    }
    let (content_range, etag, last_modified) = (
        value("content-range"),
        value("etag"),
        value("last-modified"),
    );
    let answer = RangedAnswer {
        status,
        content_range: content_range.as_deref(),
        etag: etag.as_deref(),
        last_modified: last_modified.as_deref(),
    };
    if let Err(splice) = check_answer(&answer, range, target.total, target.validator) {
        return End::Splice(splice);
    }
    let reader = response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader();
    write_body(reader, range.end, target, ledger, id, received)
}

/// Streams a body whose first byte belongs at the connection's current position and whose
/// last is just before `body_end`, writing only what the ledger hands out; stops when the
/// range is done. A body read to its end gives its connection back to the agent for the
/// next range; the rest of a body cut short by a split is not read, and its connection is
/// closed.
pub(crate) fn write_body(
    mut reader: impl Read,
    body_end: u64,
    target: &Target<'_>,
    ledger: &dyn Ledger,
    id: SegmentId,
    received: &mut u64,
) -> End {
    COPY_BUF.with_borrow_mut(|buf| {
        buf.resize(COPY_BUF_BYTES, 0);
        let read_size = target.limit.map_or(buf.len(), |l| l.read_size(buf.len()));
        loop {
            if target.cancel.load(Ordering::Relaxed) || ledger.is_stopped() {
                return End::Stopped;
            }
            // Ask before reading: a split may have shortened the range meanwhile.
            let room = ledger.reserve(id, read_size as u64);
            if room.len == 0 {
                if room.offset == body_end {
                    // Nothing of the body is left: reading its end (0 bytes) hands the
                    // connection back to the agent's pool (ureq reuses only a body read
                    // to its end).
                    let _ = reader.read(&mut buf[..1]);
                }
                return End::Done;
            }
            let want = room.len as usize;
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) => {
                    // Unwritten reservation: handed back when the connection is released.
                    return End::Failed(Failure::ShortBody {
                        got: room.offset,
                        want: target.total,
                    });
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    ledger.wrote(id, room.offset, 0);
                    continue;
                }
                Err(e) => return refused_or_failed(http::io_failure(&e, target.http)),
            };
            if let Some(limit) = target.limit {
                let wait = limit.take(n as u64, Instant::now());
                if !wait.is_zero() && !crate::cancel::sleep(wait, target.cancel) {
                    return End::Stopped;
                }
            }
            if let Err(e) = target.file.write_all_at(&buf[..n], room.offset) {
                return End::Failed(Failure::io("write", target.part, &e));
            }
            *received += n as u64;
            target.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
            // Also hands back what was reserved but not read.
            ledger.wrote(id, room.offset, n as u64);
        }
    })
}

/// 429, 503 and connections the server would not take mean "not now, not this many":
/// the range goes back to the file and the file uses fewer connections.
fn refused_or_failed(failure: Failure) -> End {
    let refused = match &failure {
        Failure::Http { status, .. } => matches!(status, 429 | 503),
        // How `http::failure` and ureq word a connection the server would not take or
        // closed before answering ("connection refused", "connection reset", "connection
        // failed", "Peer disconnected").
        Failure::Transport(why) => ["refused", "reset", "connection failed", "disconnected"]
            .iter()
            .any(|word| why.to_ascii_lowercase().contains(word)),
        _ => false,
    };
    if refused {
        End::Refused(failure)
    } else {
        End::Failed(failure)
    }
}

/// What the first response of a file says about splitting it (see `Fetch::split`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitOffer {
    /// Content-Length of a 200.
    pub total: u64,
    /// `Accept-Ranges: bytes`.
    pub ranges: bool,
    /// A strong ETag, else Last-Modified (see `resume::validator`).
    pub validator: Option<String>,
}

/// A first response handed over to be split: its body is not read yet.
#[derive(Debug)]
pub(crate) struct Handover {
    pub response: ureq::http::Response<ureq::Body>,
    pub total: u64,
    pub validator: Option<String>,
}
