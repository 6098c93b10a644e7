//! Self-tests of the test machinery: the harness that runs commands (`harness.rs`), and each
//! part of the scripted server (`routing.rs`, `ranges.rs`, `faults.rs`, `gate.rs`), driven
//! by the small std-only HTTP client below so that a fetchpool bug cannot hide a server bug.

mod faults;
mod gate;
mod harness;
mod ranges;
mod routing;

use std::any::Any;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use crate::support::server::Server;

/// Every client read gives up after this, so a server bug fails the test instead of hanging it.
pub(super) const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as the tiny client saw it.
#[derive(Debug)]
pub(super) struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
    /// Whether the body arrived in full (all of Content-Length, or the last chunk).
    pub(super) complete: bool,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One client connection, kept alive across requests.
pub(super) struct Client {
    reader: BufReader<TcpStream>,
}

impl Client {
    pub(super) fn connect(srv: &Server) -> Client {
        let stream = TcpStream::connect(srv.addr()).expect("connect to the test server");
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client {
            reader: BufReader::new(stream),
        }
    }

    pub(super) fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        self.reader.get_mut().write_all(head.as_bytes()).unwrap();
        self.read_response(method == "HEAD")
    }

    fn read_response(&mut self, is_head: bool) -> Response {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("status line");
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("header line");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("header has a colon");
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            complete: true,
        };
        if is_head || status == 204 || status == 304 {
            return response;
        }
        if response.header("Transfer-Encoding") == Some("chunked") {
            response.complete = self.read_chunks(&mut response.body);
        } else if let Some(len) = response.header("Content-Length") {
            let len: u64 = len.parse().unwrap();
            // A short read (connection closed early) is data, not an error, for these tests.
            let _ = (&mut self.reader).take(len).read_to_end(&mut response.body);
            response.complete = response.body.len() as u64 == len;
        } else {
            self.reader.read_to_end(&mut response.body).unwrap();
        }
        response
    }

    fn read_chunks(&mut self, body: &mut Vec<u8>) -> bool {
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return false;
            }
            let size = usize::from_str_radix(line.trim(), 16).expect("chunk size");
            let mut chunk = vec![0; size + 2];
            if self.reader.read_exact(&mut chunk).is_err() {
                return false;
            }
            if size == 0 {
                return true;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }

    /// Whether the server has closed this connection (reads end-of-file).
    pub(super) fn is_closed(&mut self) -> bool {
        matches!(self.reader.fill_buf(), Ok([]) | Err(_))
    }
}

/// One GET on a fresh connection.
pub(super) fn get(srv: &Server, path: &str, headers: &[(&str, &str)]) -> Response {
    Client::connect(srv).send("GET", path, headers)
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    match payload.downcast::<String>() {
        Ok(s) => *s,
        Err(payload) => payload
            .downcast_ref::<&str>()
            .map_or_else(|| "<non-text panic>".to_owned(), |s| (*s).to_owned()),
    }
}

/// Runs `f`, which must panic, and returns its message.
pub(super) fn panic_of(f: impl FnOnce()) -> String {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => panic!("expected a panic, got none"),
        Err(payload) => panic_message(payload),
    }
}
