//! One module per subcommand: wiring only (settings in, stages connected, outcome out).

mod hash;
mod verify;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::Exit;

pub(crate) fn dispatch(cli: Cli) -> Result<Exit, Error> {
    match cli.command {
        Command::HashWorker(args) => Ok(crate::hashpool::worker::run(args.abort_on)),
        Command::Hash(args) => hash::run(args),
        Command::Verify(args) => verify::run(args),
        _ => todo!("lead"),
    }
}
