//! One module per subcommand: wiring only (settings in, stages connected, outcome out).

mod check;
mod demo;
mod get;
mod hash;
mod verify;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::Exit;
use crate::hashpool::worker::Stopped;
use crate::settings;

pub(crate) fn dispatch(cli: Cli) -> Result<Exit, Error> {
    match cli.command {
        Command::Get(args) => get::run(settings::Get::from_args(*args)?),
        Command::Verify(args) => verify::run(args),
        Command::Hash(args) => hash::run(args),
        Command::Check(args) => check::run(check::Check::from_args(args)?),
        Command::Demo(args) => demo::run(args),
        Command::Generate(args) => crate::generate::run(args.kind, &args.dir),
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
