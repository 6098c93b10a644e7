//! The child side: read requests on stdin, hash each file, reply on stdout.
//! One file at a time with one 256 KiB buffer, so a worker stays a few MiB resident.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};

use super::protocol::{self, FrameError};
use crate::digest;

/// Why a worker stopped before its stdin closed; the pool then reaps it and starts another.
#[derive(Debug)]
pub(crate) enum Stopped {
    /// The parent sent something that is not a request (the caller says so on stderr,
    /// which the parent passes on).
    BadRequest(FrameError),
    /// The parent is gone or stopped listening: nothing to say, nobody to say it to.
    ParentGone,
}

/// Runs the worker loop until stdin closes (`Ok`).
///
/// `abort_on` is the test hook: `std::process::abort()` when asked for a file with this
/// file name, so tests can kill a worker at a chosen point (debug builds only).
pub(crate) fn run(abort_on: Option<OsString>) -> Result<(), Stopped> {
    // Our own buffer over stdin, so we can tell when no further request is waiting.
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    loop {
        let (algo, path) = match protocol::read_request(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => return Err(Stopped::BadRequest(e)),
        };
        if cfg!(debug_assertions) && abort_on.is_some() && path.file_name() == abort_on.as_deref() {
            std::process::abort();
        }
        let result = File::open(&path).and_then(|file| digest::hash_reader(algo, file));
        // Replies to a batch of requests go out together: flush only when no further
        // request is already waiting in the buffer (the parent reads them in order).
        let sent = protocol::write_reply(&mut output, &result).and_then(|()| {
            if input.buffer().is_empty() {
                output.flush()
            } else {
                Ok(())
            }
        });
        if sent.is_err() {
            return Err(Stopped::ParentGone);
        }
    }
}
