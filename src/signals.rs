//! Signal handling shared by the subcommands: what SIGINT/SIGTERM set, the second one
//! ending the process, SIGXFSZ survived. Owns no policy about what a set flag means.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use signal_hook::consts::{SIGINT, SIGTERM, SIGXFSZ};
use signal_hook::flag;

/// First SIGINT/SIGTERM: sets `interrupted` and every flag in `also`, so the caller stops
/// starting work. A second one exits at once with 130.
pub(crate) fn on_interrupt(interrupted: &Arc<AtomicBool>, also: &[&Arc<AtomicBool>]) {
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit must see the flag from the *previous* signal.
        let _ = flag::register_conditional_shutdown(sig, 130, Arc::clone(interrupted));
        let _ = flag::register(sig, Arc::clone(interrupted));
        for other in also {
            let _ = flag::register(sig, Arc::clone(other));
        }
    }
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
