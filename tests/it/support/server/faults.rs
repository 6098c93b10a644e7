//! Faults a reply can carry: a body cut short (truncate), paused mid-way (stall), sent slowly
//! (throttle) or late (delay), and a connection dropped without a word. Where a cut falls within
//! a range is decided in `ranges.rs`; pacing of throttled writes is in `response.rs`.

use std::io;
use std::net::Shutdown;
use std::time::Duration;

use super::response::Out;
use super::script::{Kind, Reply};

/// A fault at an offset into a file's bytes. The offset counts from the start of the file,
/// not of the response, so it means the same whether or not the request had a Range.
#[derive(Clone, Copy, Debug)]
pub(super) enum Cut {
    /// Send the bytes before `at`, then close the connection mid-body.
    Truncate { at: usize },
    /// Send the bytes before `at`, pause, then send the rest.
    Stall { at: usize, pause: Duration },
}

impl Reply {
    /// Like `file`, but the connection closes once the bytes before offset `at` are sent
    /// (Content-Length still promises the whole).
    pub fn truncate(bytes: impl AsRef<[u8]>, at: usize) -> Reply {
        Reply::file_with_cut(bytes.as_ref(), Some(Cut::Truncate { at }))
    }

    /// Like `file`, but the server pauses for `pause` (at most 120 s, and less if the server
    /// is dropped) once the bytes before offset `at` are sent, then sends the rest.
    pub fn stall(bytes: impl AsRef<[u8]>, at: usize, pause: Duration) -> Reply {
        Reply::file_with_cut(bytes.as_ref(), Some(Cut::Stall { at, pause }))
    }

    /// Closes the connection without sending anything.
    pub fn drop_connection() -> Reply {
        Reply::new(Kind::Drop)
    }

    /// Send the body at about this rate (in slices every 50 ms).
    pub fn throttle(mut self, bytes_per_sec: u64) -> Reply {
        assert!(
            bytes_per_sec > 0,
            "a throttle of 0 bytes/s would never finish"
        );
        self.throttle_bytes_per_sec = Some(bytes_per_sec);
        self
    }

    /// Wait this long (at most 120 s) after reading the request, before answering.
    pub fn delay(mut self, pause: Duration) -> Reply {
        self.delay = pause;
        self
    }
}

impl Out<'_> {
    /// Sends `body` (already the part this response carries), broken as `cut` says. Says
    /// whether the body went out whole; a truncated one did not, and the connection is shut.
    pub(super) fn send_cut_body(
        &self,
        body: &[u8],
        chunked: bool,
        throttle: Option<u64>,
        cut: Option<Cut>,
    ) -> io::Result<bool> {
        match cut {
            None => {
                self.send_body(body, chunked, throttle)?;
            }
            Some(Cut::Truncate { at }) => {
                self.send_body(&body[..at], chunked, throttle)?;
                // Closing now, with bytes still owed, is the whole point.
                let _ = self.stream.shutdown(Shutdown::Both);
                return Ok(false);
            }
            Some(Cut::Stall { at, pause }) => {
                self.send_body(&body[..at], chunked, throttle)?;
                if !self.shared.nap(pause) {
                    return Err(io::Error::other("server stopping"));
                }
                self.send_body(&body[at..], chunked, throttle)?;
            }
        }
        Ok(true)
    }
}
