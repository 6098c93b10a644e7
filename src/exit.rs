//! Turns many outcomes into one process exit status. The only place exit codes are decided:
//! the reporters and `check` count what happened into a `Tally`, and `status` decides.

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

/// What a run came to, counted by what each outcome means: the one input of `status`.
/// Counting is the callers' part (report/ for get, hash and verify; `check`); they never
/// pick a code themselves.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Items that failed: a download, a read, a DOWN probe, a job interrupted or never
    /// started.
    pub failed: u64,
    /// Items whose bytes did not prove out: a digest mismatch, or no digest under
    /// `--require-digest` (possible tampering).
    pub unproven: u64,
    /// The loudest fatal error met while the run went on (see `of_error`).
    error: Option<Exit>,
    /// The signal that stopped the run, if one did.
    pub interrupt: Option<Signal>,
}

/// The signals that stop a run (the second of either ends the process at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Interrupt,
    Terminate,
}

impl Tally {
    /// A run of items only (no error, no signal): `failed` failed, `unproven` did not
    /// prove out.
    pub(crate) fn items(failed: u64, unproven: u64) -> Tally {
        Tally {
            failed,
            unproven,
            ..Tally::default()
        }
    }

    /// Counts one failed item by what its failure means.
    pub(crate) fn failure(&mut self, f: &Failure) {
        match f {
            // No digest under --require-digest: the bytes could not be proven, so not
            // fetched.
            Failure::Mismatch { .. } | Failure::NoDigest => self.unproven += 1,
            _ => self.failed += 1,
        }
    }

    /// Counts a fatal error of the run that did not end it (a file it could not write).
    pub(crate) fn error(&mut self, e: &Error) {
        self.error = self.error.max(Some(of_error(e)));
    }
}

/// The exit status of a run that came to `tally`: 130/143 when a signal stopped it, else
/// the loudest of its errors and items (2 > 3 > 1 > 0).
pub(crate) fn status(tally: &Tally) -> Exit {
    let of_items = match (tally.unproven, tally.failed) {
        (0, 0) => Exit::Ok,
        (0, _) => Exit::Failed,
        _ => Exit::Mismatch,
    };
    [tally.error, tally.interrupt.map(of_signal)]
        .into_iter()
        .flatten()
        .fold(of_items, merge)
}

/// The status a signal that stopped the run calls for: 128 + its number.
pub(crate) fn of_signal(signal: Signal) -> Exit {
    match signal {
        Signal::Interrupt => Exit::Interrupted,
        Signal::Terminate => Exit::Terminated,
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
        // An untrusted manifest is possible tampering, like a mismatch.
        Error::Signature { .. } => Exit::Mismatch,
        _ => Exit::Usage,
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
    fn status_table_covers_items_errors_and_signals() {
        use Exit::*;
        let tally = |failed, unproven, error: Option<Error>, interrupt| {
            let mut t = Tally {
                failed,
                unproven,
                interrupt,
                ..Tally::default()
            };
            if let Some(e) = error {
                t.error(&e);
            }
            t
        };
        let usage = || Some(Error::Usage("bad line".into()));
        let setup = || Some(Error::Setup("cannot write".into()));
        let (int, term) = (Some(Signal::Interrupt), Some(Signal::Terminate));
        let table = [
            (tally(0, 0, None, None), Ok),
            (tally(1, 0, None, None), Failed),
            (tally(0, 1, None, None), Mismatch),
            (tally(5, 1, None, None), Mismatch),
            (tally(0, 0, setup(), None), Failed),
            (tally(0, 1, setup(), None), Mismatch),
            (tally(0, 0, usage(), None), Usage),
            (tally(3, 3, usage(), None), Usage),
            (tally(0, 0, None, int), Interrupted),
            (tally(2, 2, usage(), int), Interrupted),
            (tally(0, 0, None, term), Terminated),
            (tally(1, 1, setup(), term), Terminated),
        ];
        for (t, want) in table {
            assert_eq!(status(&t), want, "{t:?}");
        }
    }

    #[test]
    fn the_loudest_error_of_several_counts() {
        let mut t = Tally::default();
        t.error(&Error::Usage("x".into()));
        t.error(&Error::Setup("y".into()));
        assert_eq!(status(&t), Exit::Usage);
    }

    #[test]
    fn only_a_mismatch_or_a_missing_digest_exits_3() {
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
            (Failure::NoDigest, Exit::Mismatch),
        ];
        for (failure, want) in table {
            let mut t = Tally::default();
            t.failure(&failure);
            assert_eq!(status(&t), want, "{failure:?}");
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
