//! The child side: read requests on stdin, hash each file, reply on stdout.

use std::process::ExitCode;

/// Runs the worker loop until stdin closes.
pub fn run(abort_on: Option<std::ffi::OsString>) -> ExitCode {
    let _ = abort_on;
    todo!("helper: hashpool")
}
