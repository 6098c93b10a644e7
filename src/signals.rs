//! Signal handling shared by the subcommands: what SIGINT/SIGTERM set (and which of the two
//! came), the second one ending the process, SIGXFSZ survived. Owns no policy about what a
//! set flag means beyond the exit status it calls for.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::flag;

use crate::exit::{self, Exit, Signal};

/// Which interrupt arrived, if one did. Cheap to clone; every clone sees the same signal.
#[derive(Debug, Clone, Default)]
pub(crate) struct Interrupt {
    /// 0 until SIGINT or SIGTERM arrives, then that signal's number.
    signal: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Which signal arrived, if one did.
    pub(crate) fn signal(&self) -> Option<Signal> {
        match self.signal.load(Ordering::Relaxed) {
            0 => None,
            s if s == SIGTERM as usize => Some(Signal::Terminate),
            _ => Some(Signal::Interrupt),
        }
    }

    /// The exit status the interrupt calls for (130 for SIGINT, 143 for SIGTERM), as
    /// `exit.rs` decides it.
    pub(crate) fn exit(&self) -> Option<Exit> {
        self.signal().map(exit::of_signal)
    }

    /// An interrupt already set, for unit tests of its users.
    #[cfg(test)]
    pub(crate) fn arrived(signal: i32) -> Interrupt {
        Interrupt {
            signal: Arc::new(AtomicUsize::new(signal as usize)),
        }
    }
}

/// First SIGINT/SIGTERM: sets `interrupted` and every flag in `also`, so the caller stops
/// starting work, and records which signal it was. A second one exits at once with
/// 128 + its number (130, 143).
pub(crate) fn on_interrupt(interrupted: &Arc<AtomicBool>, also: &[&Arc<AtomicBool>]) -> Interrupt {
    let which = Interrupt::default();
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit must see the flag from the *previous* signal.
        let code = 128 + sig;
        let _ = flag::register_conditional_shutdown(sig, code, Arc::clone(interrupted));
        let _ = flag::register(sig, Arc::clone(interrupted));
        let _ = flag::register_usize(sig, Arc::clone(&which.signal), sig as usize);
        for other in also {
            let _ = flag::register(sig, Arc::clone(other));
        }
    }
    which
}

/// Past a file-size limit (RLIMIT_FSIZE) the kernel kills with SIGXFSZ unless it is
/// handled; handled, the write fails with EFBIG and only that file fails.
pub(crate) fn survive_file_size_limit() {
    let _ = flag::register(SIGXFSZ, Arc::new(AtomicBool::new(false)));
}

/// For a hash worker: a terminal's Ctrl-C reaches the whole process group, but the parent
/// decides when workers stop (it closes their stdin), so they must outlive that signal.
pub(crate) fn ignore_interrupts() {
    for sig in [SIGINT, SIGTERM] {
        let _ = flag::register(sig, Arc::new(AtomicBool::new(false)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigint_calls_for_130_and_sigterm_for_143() {
        assert_eq!(Interrupt::default().exit(), None);
        assert_eq!(Interrupt::arrived(SIGINT).exit(), Some(Exit::Interrupted));
        assert_eq!(Interrupt::arrived(SIGTERM).exit(), Some(Exit::Terminated));
        assert_eq!(Exit::Interrupted.code(), 130);
        assert_eq!(Exit::Terminated.code(), 143);
    }
}
