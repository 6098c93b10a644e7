//! Writing answers: the head in one write, bodies in large (or throttled) writes, chunked
//! framing, and every body byte counted against its path.

use std::io::{self, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::Shared;
use super::faults::Cut;
use super::script::Reply;

/// Bodies go out in writes this large: the server must keep up with tens of MiB per test.
const WRITE_CHUNK: usize = 256 * 1024;

/// Where a response goes, and whose byte counts it adds to.
pub(super) struct Out<'a> {
    pub(super) shared: &'a Shared,
    pub(super) stream: &'a TcpStream,
    pub(super) path: &'a str,
}

impl Out<'_> {
    /// Writes a whole response: status line, `headers` (then the reply's own, which replace
    /// any of the same name), then `body` unless this answers a HEAD, faults included.
    #[expect(
        clippy::too_many_arguments,
        reason = "one response's every knob, used twice"
    )]
    pub(super) fn respond(
        &self,
        reply: &Reply,
        status: u16,
        mut headers: Vec<(String, String)>,
        body: &[u8],
        is_head: bool,
        closes: bool,
        cut: Option<Cut>,
    ) -> io::Result<()> {
        // 1xx, 204 and 304 never have a body, so they say nothing about its length.
        let bodiless = status < 200 || status == 204 || status == 304;
        if reply.chunked && !bodiless {
            headers.push(("Transfer-Encoding".to_owned(), "chunked".to_owned()));
        } else if !bodiless {
            headers.push(("Content-Length".to_owned(), body.len().to_string()));
        }
        for (name, value) in &reply.headers {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        write_head(self.stream, status, &headers, closes)?;
        if is_head || bodiless {
            return Ok(());
        }
        let chunked = reply.chunked;
        let throttle = reply.throttle_bytes_per_sec;
        if !self.send_cut_body(body, chunked, throttle, cut)? {
            return Ok(());
        }
        if chunked {
            write_all(self.stream, b"0\r\n\r\n")?;
        }
        Ok(())
    }

    /// Sends body bytes in large writes (throttled: a slice every 50 ms), counting each write.
    pub(super) fn send_body(
        &self,
        bytes: &[u8],
        chunked: bool,
        throttle: Option<u64>,
    ) -> io::Result<()> {
        let slice = throttle.map_or(WRITE_CHUNK, |rate| {
            usize::try_from(rate / 20)
                .unwrap_or(WRITE_CHUNK)
                .clamp(1, WRITE_CHUNK)
        });
        let started = Instant::now();
        let mut sent = 0u64;
        for piece in bytes.chunks(slice) {
            if let Some(rate) = throttle {
                let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
                if !self.shared.sleep_until(due) {
                    return Err(io::Error::other("server stopping"));
                }
            }
            if chunked {
                write_all(self.stream, format!("{:x}\r\n", piece.len()).as_bytes())?;
            }
            let mut written = 0;
            while written < piece.len() {
                match (&mut &*self.stream).write(&piece[written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        written += n;
                        self.shared.count_body_bytes(self.path, n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if chunked {
                write_all(self.stream, b"\r\n")?;
            }
            sent += piece.len() as u64;
        }
        Ok(())
    }
}

fn write_all(mut stream: &TcpStream, bytes: &[u8]) -> io::Result<()> {
    stream.write_all(bytes)
}

/// Writes the status line and headers in one write.
pub(super) fn write_head(
    stream: &TcpStream,
    status: u16,
    headers: &[(String, String)],
    closes: bool,
) -> io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let says_close = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("Connection"));
    if closes && !says_close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    write_all(stream, head.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        410 => "Gone",
        416 => "Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}
