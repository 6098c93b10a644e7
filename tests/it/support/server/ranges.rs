//! Range and resume behaviour of file replies: HEAD, `Range` (206 with Content-Range, 416 past
//! the end), `If-Range` against the ETag or Last-Modified, and where a fault's offset falls
//! within the part served.

use std::io;

use super::faults::Cut;
use super::response::Out;
use super::script::{Reply, Request};

/// The file logic: method, HEAD, Range and If-Range decide what part goes out.
pub(super) fn answer_file(
    out: &Out<'_>,
    request: &Request,
    reply: &Reply,
    body: &[u8],
    cut: Option<Cut>,
    closes: bool,
) -> io::Result<bool> {
    let is_head = request.method == "HEAD";
    if !is_head && request.method != "GET" {
        let allow = vec![("Allow".to_owned(), "GET, HEAD".to_owned())];
        out.respond(reply, 405, allow, &[], false, closes, None)?;
        return Ok(!closes);
    }
    if let (true, Some(status)) = (is_head, reply.refuse_head) {
        let allow = vec![("Allow".to_owned(), "GET".to_owned())];
        out.respond(reply, status, allow, &[], true, closes, None)?;
        return Ok(!closes);
    }
    let mut headers = Vec::new();
    if !reply.ignore_range {
        headers.push(("Accept-Ranges".to_owned(), "bytes".to_owned()));
    }
    if let Some(etag) = &reply.etag {
        headers.push(("ETag".to_owned(), etag.clone()));
    }
    if let Some(date) = &reply.last_modified {
        headers.push(("Last-Modified".to_owned(), date.clone()));
    }
    headers.push((
        "Content-Type".to_owned(),
        "application/octet-stream".to_owned(),
    ));
    // Range applies to GET only (RFC 9110 §14.2), and If-Range guards it (§13.1.5).
    let range = match request.header("Range") {
        Some(range) if !is_head && !reply.ignore_range && if_range_holds(request, reply) => {
            parse_range(range, body.len())
        }
        _ => Span::Whole,
    };
    let len = body.len();
    let (status, start, end) = match range {
        Span::Whole => (200, 0, len),
        Span::Part { start, end } => {
            headers.push((
                "Content-Range".to_owned(),
                format!("bytes {start}-{}/{len}", end - 1),
            ));
            (206, start, end)
        }
        Span::Unsatisfiable => {
            headers.push(("Content-Range".to_owned(), format!("bytes */{len}")));
            out.respond(reply, 416, headers, &[], is_head, closes, None)?;
            return Ok(!closes);
        }
    };
    // The cut offset counts from the start of the file; turn it into one within this body.
    let cut = cut.map(|cut| match cut {
        Cut::Truncate { at } => Cut::Truncate {
            at: at.clamp(start, end) - start,
        },
        Cut::Stall { at, pause } => Cut::Stall {
            at: at.clamp(start, end) - start,
            pause,
        },
    });
    out.respond(
        reply,
        status,
        headers,
        &body[start..end],
        is_head,
        closes,
        cut,
    )?;
    Ok(!closes && !matches!(cut, Some(Cut::Truncate { .. })))
}

/// Whether a Range may be honoured: no If-Range, or one that names this very version.
fn if_range_holds(request: &Request, reply: &Reply) -> bool {
    let Some(wanted) = request.header("If-Range") else {
        return true;
    };
    if wanted.starts_with('"') || wanted.starts_with("W/") {
        // If-Range compares entity tags strongly: a weak tag never matches (RFC 9110 §13.1.5).
        reply
            .etag
            .as_deref()
            .is_some_and(|etag| etag == wanted && !etag.starts_with("W/"))
    } else {
        reply.last_modified.as_deref() == Some(wanted)
    }
}

/// What part of a file a Range asks for. `end` is exclusive.
#[derive(Debug, PartialEq)]
enum Span {
    Whole,
    Part { start: usize, end: usize },
    Unsatisfiable,
}

/// Reads `bytes=N-`, `bytes=N-M` and `bytes=-N`. Anything else (other units, several ranges,
/// nonsense) is ignored and the whole file served, as RFC 9110 §14.2 allows.
fn parse_range(value: &str, len: usize) -> Span {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Span::Whole;
    };
    let Some((first, last)) = spec.split_once('-') else {
        return Span::Whole;
    };
    if spec.contains(',') {
        return Span::Whole;
    }
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<usize>() {
            Ok(0) => Span::Unsatisfiable,
            Ok(_) if len == 0 => Span::Unsatisfiable,
            Ok(suffix) => Span::Part {
                start: len.saturating_sub(suffix),
                end: len,
            },
            Err(_) => Span::Whole,
        };
    }
    let Ok(start) = first.parse::<usize>() else {
        return Span::Whole;
    };
    let end = if last.is_empty() {
        len
    } else {
        match last.parse::<usize>() {
            Ok(last) if last >= start => last.saturating_add(1).min(len),
            _ => return Span::Whole,
        }
    };
    if start >= len {
        Span::Unsatisfiable
    } else {
        Span::Part { start, end }
    }
}
