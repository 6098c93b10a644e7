//! fetchpool: download many files at once on a bounded thread pool, hash them on a pool of
//! worker processes, and rename each to its final name only once complete and verified.
//!
//! `run()` parses the command line, dispatches to `commands/`, prints a fatal error once
//! and turns the outcome into the process exit status.

mod cancel;
mod cli;
mod commands;
mod demo_server;
pub mod digest;
mod download;
mod error;
mod exit;
mod fetch_job;
mod generate;
mod hashpool;
pub mod input;
mod job;
mod job_lines;
mod land;
mod pool;
mod probe;
mod report;
mod settings;
mod signals;
mod url;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

pub use error::{Error, Failure};
pub use exit::Exit;

/// Runs fetchpool with these arguments (the first is the program name).
pub fn run(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help/version on stdout and errors on stderr, and knows which.
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.into()
            } else {
                Exit::Ok.into()
            };
        }
    };
    match commands::dispatch(cli) {
        Ok(exit) => exit.into(),
        Err(e) => {
            report::fatal(&e);
            exit::of_error(&e).into()
        }
    }
}
