//! The child side: read requests on stdin, hash each file, reply on stdout.
//! One file at a time with one 256 KiB buffer, so a worker stays a few MiB resident.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};

use super::protocol;
use crate::digest;
use crate::exit::Exit;

/// Runs the worker loop until stdin closes (`Exit::Ok`). A malformed request or a closed
/// stdout ends it with `Exit::Failed`; the pool then reaps it and starts another.
///
/// `abort_on` is the test hook: `std::process::abort()` when asked for a file with this
/// file name, so tests can kill a worker at a chosen point.
pub(crate) fn run(abort_on: Option<OsString>) -> Exit {
    // Our own buffer over stdin, so we can tell when no further request is waiting.
    let mut input = BufReader::with_capacity(64 * 1024, io::stdin().lock());
    let mut output = BufWriter::new(io::stdout().lock());
    loop {
        let (algo, path) = match protocol::read_request(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => return Exit::Ok,
            Err(e) => {
                // The parent forwards our stderr with a prefix naming us.
                crate::report::worker_message(&e);
                return Exit::Failed;
            }
        };
        if abort_on.is_some() && path.file_name() == abort_on.as_deref() {
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
            // The parent is gone or stopped listening: nothing left to do.
            return Exit::Failed;
        }
    }
}
