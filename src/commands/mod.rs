//! One module per subcommand: wiring only (settings in, stages connected, outcome out).

mod check;
mod demo;
mod get;
mod hash;
mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::{Exit, Signal};
use crate::hashpool::HashPool;
use crate::hashpool::worker::Stopped;
use crate::settings;

pub(crate) fn dispatch(cli: Cli) -> Result<Exit, Error> {
    // -q wins over -v: "only errors".
    let quiet = match &cli.command {
        Command::Get(args) => args.output.quiet,
        Command::Demo(args) => args.output.quiet,
        Command::Verify(args) => args.quiet || args.status,
        Command::Hash(args) => args.quiet,
        Command::Check(args) => args.quiet,
        _ => false,
    };
    crate::report::set_verbosity(if quiet { 0 } else { cli.verbose });
    match cli.command {
        Command::Get(args) => get::run(settings::Get::from_args(*args)?),
        Command::Verify(args) => verify::run(args),
        Command::Hash(args) => hash::run(args),
        Command::Check(args) => check::run(check::Check::from_args(args)?),
        Command::Demo(args) => demo::run(args),
        Command::Completions(args) => crate::generate::completions(args.shell),
        Command::Man(args) => crate::generate::man(args.subcommand.as_deref()),
        Command::Generate(args) => crate::generate::to_dir(args.kind, &args.dir),
        Command::HashWorker(args) => {
            crate::signals::ignore_interrupts();
            let stopped = crate::hashpool::worker::run(args.abort_on);
            if let Err(Stopped::BadRequest(e)) = &stopped {
                // The parent forwards our stderr with a prefix naming us.
                crate::report::worker_message(e);
            }
            Ok(Exit::of_worker(stopped.is_ok()))
        }
    }
}

/// Runs `work` (hash or verify's loop over the pool) with SIGINT/SIGTERM handled as `get`
/// handles them: the first sets the flag `work` is given, so it stops feeding the pool
/// and stops printing, and a watcher stops the pool at once, so a big file in a worker
/// does not hold up the interrupt; a second signal exits at once. Returns what `work`
/// returned and, if an interrupt came, which signal it was (`exit.rs` makes it 130 or 143).
fn with_interrupts<R>(pool: &HashPool, work: impl FnOnce(&AtomicBool) -> R) -> (R, Option<Signal>) {
    /// How often the watcher looks at the flag: a signal handler can only set it.
    const POLL: Duration = Duration::from_millis(20);
    let interrupted = Arc::new(AtomicBool::new(false));
    let which = crate::signals::on_interrupt(&interrupted, &[]);
    let done = AtomicBool::new(false);
    let result = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                if interrupted.load(Ordering::Relaxed) {
                    pool.stop();
                    return;
                }
                std::thread::sleep(POLL);
            }
        });
        let result = work(&interrupted);
        done.store(true, Ordering::Relaxed);
        result
    });
    let signal = match interrupted.load(Ordering::Relaxed) {
        // The flag is set after the signal number is recorded, by the same handler list.
        true => Some(which.signal().unwrap_or(Signal::Interrupt)),
        false => None,
    };
    (result, signal)
}
