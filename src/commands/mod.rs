//! One module per subcommand: wiring only (settings in, stages connected, outcome out).

mod check;
mod get;

use crate::cli::{Cli, Command};
use crate::error::Error;
use crate::exit::Exit;
use crate::settings;

pub(crate) fn dispatch(cli: Cli) -> Result<Exit, Error> {
    match cli.command {
        Command::Get(args) => get::run(settings::Get::from_args(args)?),
        Command::Check(args) => check::run(check::Check::from_args(args)?),
        Command::Demo(_) => todo!("demo"),
        Command::Generate(args) => crate::generate::run(args.kind, &args.dir),
        Command::HashWorker(args) => {
            let _ = crate::hashpool::worker::run(args.abort_on);
            Ok(Exit::Ok)
        }
        Command::Verify(_) | Command::Hash(_) => todo!("hashpool helper"),
    }
}
