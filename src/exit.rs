//! Turns many outcomes into one process exit status. The only place exit codes are decided.

use std::process::ExitCode;

use crate::error::{Error, Failure};

/// The documented exit statuses, in the order of how loud they are when outcomes mix.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    /// 0: everything asked for is there (downloaded, verified or already present).
    #[default]
    Ok,
    /// 1: at least one download, read or check failed.
    Failed,
    /// 3: at least one checksum mismatch (possible tampering: louder than a failure).
    Mismatch,
    /// 2: usage or input error, found before any work started.
    Usage,
    /// 130: interrupted by SIGINT (128 + SIGINT).
    Interrupted,
    /// 143: stopped by SIGTERM (128 + SIGTERM).
    Terminated,
}

impl Exit {
    /// A hash worker's own status: 0 when its input ended, 1 when it stopped early (the
    /// parent reaps it and starts another either way).
    pub(crate) fn of_worker(ended_cleanly: bool) -> Exit {
        if ended_cleanly {
            Exit::Ok
        } else {
            Exit::Failed
        }
    }

    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failed => 1,
            Exit::Usage => 2,
            Exit::Mismatch => 3,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }
}

/// Merges two statuses: the louder one wins (143 > 130 > 2 > 3 > 1 > 0; a run sees at
/// most one of 130 and 143).
pub fn merge(a: Exit, b: Exit) -> Exit {
    a.max(b)
}

/// The status of a run that a fatal error ended: 2 for what the user can fix in the
/// command or its input, 1 for what went wrong in the doing (workers, output, setup).
pub(crate) fn of_error(e: &Error) -> Exit {
    match e {
        Error::SpawnWorkers { .. } | Error::WriteOutput { .. } | Error::Setup(_) => Exit::Failed,
        _ => Exit::Usage,
    }
}

/// What one failed item says about the run: a mismatch is possible tampering (3),
/// anything else a failure (1). An interrupted item is a failure too; the interrupt
/// itself (130 for SIGINT, 143 for SIGTERM) is the run's, and louder.
pub(crate) fn of_failure(f: &Failure) -> Exit {
    match f {
        Failure::Mismatch { .. } => Exit::Mismatch,
        _ => Exit::Failed,
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_table_covers_every_pair() {
        use Exit::*;
        let table = [
            (Ok, Ok, Ok),
            (Ok, Failed, Failed),
            (Ok, Mismatch, Mismatch),
            (Ok, Usage, Usage),
            (Ok, Interrupted, Interrupted),
            (Failed, Failed, Failed),
            (Failed, Mismatch, Mismatch),
            (Failed, Usage, Usage),
            (Failed, Interrupted, Interrupted),
            (Mismatch, Mismatch, Mismatch),
            (Mismatch, Usage, Usage),
            (Mismatch, Interrupted, Interrupted),
            (Usage, Usage, Usage),
            (Usage, Interrupted, Interrupted),
            (Interrupted, Interrupted, Interrupted),
            (Ok, Terminated, Terminated),
            (Failed, Terminated, Terminated),
            (Mismatch, Terminated, Terminated),
            (Usage, Terminated, Terminated),
            (Interrupted, Terminated, Terminated),
            (Terminated, Terminated, Terminated),
        ];
        for (a, b, want) in table {
            assert_eq!(merge(a, b), want, "merge({a:?}, {b:?})");
            assert_eq!(merge(b, a), want, "merge({b:?}, {a:?})");
        }
    }

    #[test]
    fn only_a_mismatch_exits_3() {
        let d = crate::digest::Digest::from_hex_guess(&"0".repeat(64)).unwrap();
        let table = [
            (
                Failure::Http {
                    status: 404,
                    retry_after: None,
                },
                Exit::Failed,
            ),
            (Failure::Timeout, Exit::Failed),
            (Failure::Hashing("stopped".into()), Exit::Failed),
            (Failure::Panicked("bug".into()), Exit::Failed),
            (
                Failure::Mismatch {
                    want: d.clone(),
                    got: d,
                },
                Exit::Mismatch,
            ),
            (Failure::Interrupted, Exit::Failed),
        ];
        for (failure, want) in table {
            assert_eq!(of_failure(&failure), want, "{failure:?}");
        }
    }

    #[test]
    fn fatal_errors_are_usage_errors_unless_the_doing_failed() {
        assert_eq!(of_error(&Error::Usage("bad".into())), Exit::Usage);
        assert_eq!(of_error(&Error::Setup("tls".into())), Exit::Failed);
    }

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(
            [
                Exit::Ok,
                Exit::Failed,
                Exit::Usage,
                Exit::Mismatch,
                Exit::Interrupted,
                Exit::Terminated
            ]
            .map(Exit::code),
            [0, 1, 2, 3, 130, 143]
        );
    }
}
