//! A whole body read by URL before any download starts (a `-c` manifest, its signature, an
//! `-i` list): one GET through the shared agent (its TLS, proxy and stall-timeout rules)
//! with the retry policy of file downloads (`--retries`, `--retry-wait`, Retry-After), a
//! size cap, and the body in a file the caller hands in. Knows nothing about what it says.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use ureq::Agent;

use crate::download::{http, retry};
use crate::error::Failure;
use crate::settings::Http;

/// How a body read went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Whole {
    /// 200: the body, all `bytes` of it, is in the file.
    Complete { bytes: u64 },
    /// 404 or 410: there is nothing at this URL (a signature not published beside a
    /// manifest, say). Not retried.
    Missing { status: u16 },
}

/// Where a body read reports to and what stops it.
pub(crate) struct Reading<'a> {
    pub agent: &'a Agent,
    pub http: &'a Http,
    /// Set on SIGINT/SIGTERM: the wait before a retry ends at once, and so does the read.
    pub cancel: &'a AtomicBool,
    /// Hears each retry before its wait: (retry number, wait, why).
    pub on_retry: &'a dyn Fn(u32, Duration, &Failure),
}

/// GETs `url` into `into` (emptied before each attempt), retrying transient failures (the
/// statuses and transport errors `Failure::is_transient` names) as a file download is.
/// A body over `cap` bytes fails at once; so does any other status than 200, 404 or 410.
pub(crate) fn read(
    reading: &Reading<'_>,
    url: &str,
    cap: u64,
    into: &mut File,
) -> Result<Whole, Failure> {
    let policy = &reading.http.backoff;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let failure = match attempt(reading, url, cap, into) {
            Ok(whole) => return Ok(whole),
            Err(Attempt::Final(failure)) => return Err(failure),
            Err(Attempt::Again(failure)) if attempts > policy.retries => return Err(failure),
            Err(Attempt::Again(failure)) => failure,
        };
        let retry_after = match &failure {
            Failure::Http { retry_after, .. } => *retry_after,
            _ => None,
        };
        let wait = policy.delay(attempts, retry_after, super::jitter());
        (reading.on_retry)(attempts, wait, &failure);
        if !crate::cancel::sleep(wait, reading.cancel) {
            return Err(Failure::Interrupted);
        }
    }
}

/// Why one attempt failed: worth another, or not.
enum Attempt {
    Again(Failure),
    Final(Failure),
}

impl From<Failure> for Attempt {
    fn from(failure: Failure) -> Attempt {
        match failure.is_transient() {
            true => Attempt::Again(failure),
            false => Attempt::Final(failure),
        }
    }
}

fn attempt(reading: &Reading<'_>, url: &str, cap: u64, into: &mut File) -> Result<Whole, Attempt> {
    let spool_error = |e: &io::Error| Attempt::Final(Failure::io("write", "a temporary file", e));
    into.rewind().map_err(|e| spool_error(&e))?;
    into.set_len(0).map_err(|e| spool_error(&e))?;
    let response = http::get(reading.agent, reading.http, url, &[])?;
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    match status {
        200 => {}
        404 | 410 => return Ok(Whole::Missing { status }),
        _ => {
            let retry_after =
                header("retry-after").and_then(|v| retry::parse_retry_after(&v, SystemTime::now()));
            return Err(Failure::Http {
                status,
                retry_after,
            }
            .into());
        }
    }
    let length = header("content-length").and_then(|v| v.parse::<u64>().ok());
    if let Some(length) = length.filter(|&length| length > cap) {
        return Err(Attempt::Final(too_large(length, cap)));
    }
    let mut body = response
        .into_body()
        .into_with_config()
        .limit(u64::MAX)
        .reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut bytes = 0u64;
    loop {
        if reading.cancel.load(Ordering::Relaxed) {
            return Err(Attempt::Final(Failure::Interrupted));
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // Cut short: with a Content-Length the check below names it precisely.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && length.is_some() => break,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(
                    Failure::Transport("connection closed before the body ended".into()).into(),
                );
            }
            Err(e) => return Err(http::io_failure(&e, reading.http).into()),
        };
        bytes += n as u64;
        if bytes > cap {
            return Err(Attempt::Final(too_large(bytes, cap)));
        }
        into.write_all(&buf[..n]).map_err(|e| spool_error(&e))?;
    }
    if let Some(want) = length
        && bytes != want
    {
        return Err(Failure::ShortBody { got: bytes, want }.into());
    }
    Ok(Whole::Complete { bytes })
}

/// A body larger than we hold for a manifest, signature or list: not retried.
fn too_large(seen: u64, cap: u64) -> Failure {
    Failure::Transport(format!(
        "body of {seen} bytes or more is over the limit of {cap} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;
    use std::num::NonZeroUsize;
    use std::thread::JoinHandle;
    use std::time::Instant;

    /// A loopback server answering its n-th connection's request with `replies[n]` (raw
    /// HTTP/1.1, the connection closed after it). Its thread returns how many it served;
    /// it waits at most 10 s for each connection.
    fn serve(replies: Vec<&'static [u8]>) -> (String, JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}/SHA256SUMS", listener.local_addr().unwrap());
        let server = std::thread::spawn(move || {
            let mut served = 0;
            for reply in replies {
                let deadline = Instant::now() + Duration::from_secs(10);
                let stream = loop {
                    match listener.accept() {
                        Ok((stream, _)) => break stream,
                        Err(_) if Instant::now() < deadline => {
                            std::thread::sleep(Duration::from_millis(5))
                        }
                        Err(_) => return served,
                    }
                };
                stream.set_nonblocking(false).unwrap();
                let mut head = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while head.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                    line.clear();
                }
                let _ = (&stream).write_all(reply);
                served += 1;
            }
            served
        });
        (url, server)
    }

    /// Reads `url` with three quick retries; gives the result, the body read and the
    /// number of retries announced.
    fn read_at(url: &str, cap: u64) -> (Result<Whole, Failure>, Vec<u8>, u32) {
        let mut http = Http::for_jobs(NonZeroUsize::new(1).unwrap());
        http.backoff.base = Duration::from_millis(1);
        http.backoff.max = Duration::from_millis(1);
        let agent = http::agent(&http);
        let retries = Cell::new(0);
        let on_retry = |_: u32, _: Duration, _: &Failure| retries.set(retries.get() + 1);
        let cancel = AtomicBool::new(false);
        let reading = Reading {
            agent: &agent,
            http: &http,
            cancel: &cancel,
            on_retry: &on_retry,
        };
        let mut spool = tempfile::tempfile().unwrap();
        let result = read(&reading, url, cap, &mut spool);
        let mut body = Vec::new();
        spool.rewind().unwrap();
        spool.read_to_end(&mut body).unwrap();
        (result, body, retries.get())
    }

    #[test]
    fn a_failed_attempt_is_retried_and_leaves_none_of_its_bytes_behind() {
        let (url, server) = serve(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nbad!",
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
        ]);
        let (result, body, retries) = read_at(&url, 1024);
        assert_eq!(result, Ok(Whole::Complete { bytes: 5 }));
        assert_eq!(body, b"hello");
        assert_eq!(retries, 2);
        assert_eq!(server.join().unwrap(), 3);
    }

    #[test]
    fn a_body_over_the_cap_fails_at_once_with_or_without_a_length() {
        for reply in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nConnection: close\r\n\r\n0123456789a"[..],
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n0123456789a",
        ] {
            let (url, server) = serve(vec![reply]);
            let (result, _, retries) = read_at(&url, 10);
            let Err(Failure::Transport(why)) = result else {
                panic!("{result:?}");
            };
            assert!(why.contains("over the limit of 10 bytes"), "{why}");
            assert_eq!(retries, 0, "not retried");
            assert_eq!(server.join().unwrap(), 1);
        }
    }

    #[test]
    fn nothing_there_is_missing_not_a_failure_and_other_statuses_fail() {
        let (url, server) = serve(vec![
            b"HTTP/1.1 410 Gone\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ]);
        assert_eq!(read_at(&url, 10).0, Ok(Whole::Missing { status: 410 }));
        assert_eq!(server.join().unwrap(), 1);
        let (url, server) = serve(vec![
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        ]);
        let (result, _, retries) = read_at(&url, 10);
        assert_eq!(
            result,
            Err(Failure::Http {
                status: 403,
                retry_after: None
            })
        );
        assert_eq!((retries, server.join().unwrap()), (0, 1));
    }
}
