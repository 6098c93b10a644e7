//! Man pages (clap_mangen) and shell completions (clap_complete), generated from `cli.rs`
//! so they never drift from the real options. `man/` holds the committed pages; a test
//! checks they are fresh.

use std::fs;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::{Cli, GenerateKind};
use crate::error::Error;
use crate::exit::Exit;

pub(crate) fn run(kind: GenerateKind, dir: &Path) -> Result<Exit, Error> {
    let err = |io_error| Error::WriteOutput {
        path: dir.to_path_buf(),
        io_error,
    };
    fs::create_dir_all(dir).map_err(err)?;
    match kind {
        GenerateKind::Man => clap_mangen::generate_to(command(), dir).map_err(err)?,
        GenerateKind::Completions => {
            for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
                clap_complete::generate_to(shell, &mut command(), "fetchpool", dir).map_err(err)?;
            }
        }
    }
    Ok(Exit::Ok)
}

/// The full command, with a fixed version line so generated files do not churn.
fn command() -> clap::Command {
    Cli::command()
}
