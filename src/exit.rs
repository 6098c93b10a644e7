//! Turns many outcomes into one process exit status. The only place exit codes are decided.

use std::process::ExitCode;

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
    /// 130: interrupted by SIGINT/SIGTERM (128 + SIGINT).
    Interrupted,
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
        }
    }
}

/// Merges two statuses: the louder one wins (130 > 2 > 3 > 1 > 0).
pub fn merge(a: Exit, b: Exit) -> Exit {
    a.max(b)
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
        ];
        for (a, b, want) in table {
            assert_eq!(merge(a, b), want, "merge({a:?}, {b:?})");
            assert_eq!(merge(b, a), want, "merge({b:?}, {a:?})");
        }
    }

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(
            [
                Exit::Ok,
                Exit::Failed,
                Exit::Usage,
                Exit::Mismatch,
                Exit::Interrupted
            ]
            .map(Exit::code),
            [0, 1, 2, 3, 130]
        );
    }
}
