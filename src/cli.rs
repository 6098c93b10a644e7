//! The command line, as clap derive types. The only module that knows clap; no I/O.
//!
//! House rules: every option has an explicit `short` (when it has one) and an upper-case
//! `value_name`; a doc comment's first line is the short help, the rest is the long help
//! and the man page text; every option's doc says its default.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Download many files at once, fast and safely, and prove that what arrived is what was
/// meant to arrive.
#[derive(Debug, Parser)]
#[command(name = "fetchpool", version, propagate_version = true)]
#[command(after_long_help = EXIT_STATUS_HELP)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_STATUS_HELP: &str = "\
Exit status:
  0    everything asked for is there (downloaded, verified, or already present)
  1    at least one download, read or check failed
  2    usage or input error (bad option, malformed list or manifest line), before any work
  3    at least one checksum mismatch (wins over 1)
  130  interrupted (SIGINT or SIGTERM)";

#[derive(Debug, Subcommand)]
pub enum Command {
    Get(GetArgs),
    Verify(VerifyArgs),
    Hash(HashArgs),
    Demo(DemoArgs),
    /// Internal: run as a hash worker process (stdin/stdout framed protocol).
    #[command(hide = true)]
    HashWorker(HashWorkerArgs),
    /// Internal: write man pages or shell completions generated from this definition.
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Bars on a terminal, plain lines otherwise.
    Auto,
    /// Bars (one per active file, and a total).
    Bar,
    /// One line per finished file and a progress line every 10 seconds.
    Plain,
    /// Nothing but errors and the summary.
    None,
}

/// Options about what gets printed, shared by every subcommand that does work.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print only errors (no progress, no per-file lines, no summary).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,

    /// Print one JSON object per finished item on stdout, and a summary object last.
    #[arg(long = "json")]
    pub json: bool,

    /// Progress display on stderr (default auto: bars on a terminal, plain lines otherwise).
    #[arg(long = "progress", value_name = "MODE", value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
}

/// Download URLs in parallel into a directory, verifying digests when known.
///
/// URLs come from the arguments and from `-i FILE` lists (one URL a line, `-` for stdin).
/// A list line may carry fields after the URL: `out=NAME` picks the output file name,
/// `sha256=HEX` (or sha224=, sha384=, sha512=) gives the digest the file must have.
/// Blank lines and lines starting with `#` are ignored. A malformed line stops the run
/// before any download, with `fetchpool: FILE:LINE: reason` and exit status 2.
///
/// Each file is written to NAME.part in the output directory and renamed to NAME only
/// when its body is complete and, if its digest is known, verified. A file that already
/// exists under its final name is skipped (and verified, when its digest is known)
/// unless --overwrite is given.
#[derive(Debug, Args)]
#[command(after_long_help = EXIT_STATUS_HELP)]
pub struct GetArgs {
    /// URLs to download (http or https).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one a line (`-` reads standard input). Repeatable.
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,

    /// Directory to write into; created if missing (default: the current directory).
    #[arg(short = 'd', long = "dir", value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Concurrent downloads (default 8).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value = "8")]
    pub jobs: NonZeroUsize,

    /// Replace files that already exist under their final name (default: skip them).
    #[arg(long = "overwrite")]
    pub overwrite: bool,

    /// Checksum manifest (GNU `HEX  NAME` or BSD `SHA256 (NAME) = HEX`) whose digests the
    /// downloads must match, by output name; a path or an http(s) URL. Repeatable.
    #[arg(short = 'c', long = "checksums", value_name = "FILE|URL")]
    pub checksums: Vec<String>,

    /// With -c and no URLs: download every file the manifest names from this base URL.
    #[arg(long = "base-url", value_name = "URL")]
    pub base_url: Option<String>,

    /// After the run, write a sha256sum-format manifest of every file that landed.
    #[arg(long = "write-checksums", value_name = "FILE")]
    pub write_checksums: Option<PathBuf>,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(long = "hash-workers", value_name = "N")]
    pub hash_workers: Option<NonZeroUsize>,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Check files against checksum manifests, in parallel (like `sha256sum -c`).
///
/// Reads GNU (`HEX  NAME`, `HEX *NAME`) and BSD (`SHA256 (NAME) = HEX`) lines, mixed
/// freely; the algorithm follows the tag or the digest's length. Names resolve relative
/// to the manifest's directory; absolute names and names with a `..` component are
/// refused (reported as FAILED open or read). Every manifest line is checked before any
/// file is read. Prints `NAME: OK`, `NAME: FAILED` or `NAME: FAILED open or read` per
/// file, in manifest order.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Exit status:
  0  every listed file matched
  1  a listed file is missing or unreadable
  2  usage error or malformed manifest line
  3  at least one checksum mismatch (wins over 1)")]
pub struct VerifyArgs {
    /// Manifest files (`-` reads standard input).
    #[arg(value_name = "MANIFEST", required = true)]
    pub manifests: Vec<PathBuf>,

    /// Don't print OK for each successfully verified file.
    #[arg(long = "quiet")]
    pub quiet: bool,

    /// Print nothing; the exit status tells.
    #[arg(long = "status")]
    pub status: bool,

    /// Don't fail or report for files that are missing.
    #[arg(long = "ignore-missing")]
    pub ignore_missing: bool,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(long = "hash-workers", value_name = "N")]
    pub hash_workers: Option<NonZeroUsize>,

    /// Print one JSON object per file on stdout, and a summary object last.
    #[arg(long = "json")]
    pub json: bool,
}

/// Print checksums of files, in parallel (like `sha256sum`).
///
/// Lines come out in the order of the arguments, in GNU format (`HEX  NAME`) or, with
/// --tag, BSD format, byte for byte as sha256sum writes them. A `-` argument reads file
/// names from standard input, one a line (blank lines are skipped).
#[derive(Debug, Args)]
pub struct HashArgs {
    /// Files to hash (`-` reads a list of names from standard input).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Algorithm (default sha256).
    #[arg(short = 'a', long = "algo", value_name = "ALGO", value_enum, default_value_t = AlgoArg::Sha256)]
    pub algo: AlgoArg,

    /// Write BSD-style lines: `SHA256 (NAME) = HEX`.
    #[arg(long = "tag")]
    pub tag: bool,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(long = "hash-workers", value_name = "N")]
    pub hash_workers: Option<NonZeroUsize>,

    /// Print one JSON object per file on stdout instead of manifest lines.
    #[arg(long = "json")]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AlgoArg {
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// Download generated files from a server inside this process, to show the progress bars.
///
/// Needs no network: the server listens on 127.0.0.1 and serves a few dozen files of
/// KiB to tens of MiB, throttled so the bars are visible for a few seconds.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Directory to download into (default: a new temporary directory, named at the end).
    #[arg(short = 'd', long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// Concurrent downloads (default 8).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value = "8")]
    pub jobs: NonZeroUsize,

    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct HashWorkerArgs {
    /// Test hook: abort when asked to hash a file with this name.
    #[arg(long = "abort-on", value_name = "NAME")]
    pub abort_on: Option<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// What to generate.
    #[arg(value_name = "KIND", value_enum)]
    pub kind: GenerateKind,

    /// Directory to write into (default: the current directory).
    #[arg(value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateKind {
    /// Man pages: fetchpool.1 and one per subcommand.
    Man,
    /// Shell completions for bash, zsh and fish.
    Completions,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli_definition() {
        Cli::command().debug_assert();
    }
}
