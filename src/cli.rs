//! The command line, as clap derive types. The only module that knows clap; no I/O.
//!
//! House rules: every option has an explicit `short` (when it has one) and an upper-case
//! `value_name`; a doc comment's first line is the short help, the rest is the long help
//! and the man page text; every option's doc says its default.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::download::limit::BytesPerSecond;
use crate::input::shard::Shard;
use crate::probe::StatusSet;

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
Subcommands: get downloads, verify and hash check and make checksum manifests (parallel
sha256sum -c and sha256sum), check probes URLs, demo shows it all on a built-in server.
See fetchpool-get(1), fetchpool-verify(1), fetchpool-hash(1), fetchpool-check(1).

Environment:
  http_proxy, https_proxy, all_proxy, no_proxy (or upper case)
                 proxies for get and check (get --proxy overrides them)
  NO_COLOR       no colours in progress bars
  TMPDIR         where `get -i -` keeps its copy of standard input (an unnamed file)

Exit status:
  0    everything asked for is there (downloaded, verified, or already present)
  1    at least one download, read or check failed
  2    usage or input error (bad option, malformed list or manifest line), before any work
  3    at least one checksum mismatch (wins over 1)
  130  interrupted (SIGINT or SIGTERM)";

const GET_MORE_HELP: &str = "\
Files:
  NAME.part            bytes being downloaded; renamed to NAME only when complete and verified
  NAME.part.fetchpool  the validator (ETag or Last-Modified) a .part was started with, so a
                       later run can resume it with Range + If-Range (bodies of 1 MiB or more)
  (unnamed)            a body that cannot be resumed goes to an unnamed file (O_TMPFILE)
                       instead of NAME.part, linked as NAME once complete and verified

A file whose digest does not match is deleted: nothing is left under NAME or NAME.part, and
the run exits 3. An existing NAME is never replaced without --overwrite, not even when it
appears while its download runs.

Environment:
  http_proxy, https_proxy, all_proxy, no_proxy (or upper case): proxies, unless --proxy

Examples:
  fetchpool get -d data -i urls.txt
  fetchpool get -i urls.txt --failed retry.txt && fetchpool get -i retry.txt
  fetchpool get -i urls.txt -c SHA256SUMS --write-checksums landed.sha256
  fetchpool get --base-url https://example.org/rel/ -c https://example.org/rel/SHA256SUMS
  fetchpool get --json -i urls.txt | jq -r 'select(.status != \"ok\") | .url'

Exit status:
  0    everything asked for is there (downloaded, verified, or already present)
  1    at least one download failed
  2    usage or input error (bad option, malformed list or manifest line, unusable -d DIR)
  3    at least one checksum mismatch (wins over 1)
  130  interrupted (SIGINT or SIGTERM); .part files are kept for the next run";

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per run, parsed once; allow, not expect: boxing GetArgs is fine too"
)]
pub enum Command {
    Get(Box<GetArgs>),
    Verify(VerifyArgs),
    Hash(HashArgs),
    Check(CheckArgs),
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
#[command(after_long_help = GET_MORE_HELP)]
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

    /// After the run, write the jobs that failed (or were interrupted) to FILE in the URL
    /// list format, so `fetchpool get -i FILE` retries exactly them. Written even when empty.
    #[arg(long = "failed", value_name = "FILE")]
    pub failed: Option<PathBuf>,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(long = "hash-workers", value_name = "N")]
    pub hash_workers: Option<NonZeroUsize>,

    /// Take only shard K of N of the jobs, to split one list across N runs (default: all).
    ///
    /// Job number i (0-based, in input order, counting URLs, not blank or comment lines)
    /// belongs to shard (i mod N) + 1: round-robin, so shard sizes differ by at most one
    /// and appending to the list never moves a job to another shard. Every shard still
    /// validates the whole list (syntax, duplicate output names) before it starts. Give
    /// each of N machines the same list and its own K: a Kubernetes Indexed Job, a Slurm
    /// array or GNU parallel (see the README).
    #[arg(long = "shard", value_name = "K/N", value_parser = Shard::parse)]
    pub shard: Option<Shard>,

    /// Downloads at once from one host (host:port), at most (default: -j, no extra cap).
    ///
    /// Threads beyond the cap wait for a slot on that host. Redirects are counted against
    /// the host of the original URL.
    #[arg(long = "max-per-host", value_name = "N")]
    pub max_per_host: Option<NonZeroUsize>,

    /// Never split a range smaller than SIZE off a big file (default 4M).
    ///
    /// Once every job has a thread, idle download threads split big files: each takes
    /// half of the largest remaining byte range of a file in flight and fetches it over
    /// its own connection (Range + If-Range), into the same .part. A file is split only
    /// when its first answer proves it safe: a length, `Accept-Ranges: bytes`, and a
    /// strong validator (ETag, else Last-Modified) or a known digest. SIZE is bytes, with
    /// an optional K, M or G suffix (binary: 1M = 1048576).
    #[arg(long = "min-split-size", value_name = "SIZE", value_parser = parse_size, default_value = "4M")]
    pub min_split_size: u64,

    /// Connections one file may use at once, its first included (default: no cap beyond
    /// -j and --max-per-host).
    #[arg(long = "max-connections-per-file", value_name = "N")]
    pub max_connections_per_file: Option<NonZeroUsize>,

    /// Never split a file over several connections: one connection per file.
    #[arg(long = "no-split")]
    pub no_split: bool,

    /// Cap the download rate of the whole run, shared by all downloads (default: no cap).
    ///
    /// RATE is bytes a second, with an optional K, M or G suffix (binary: 1K = 1024), as
    /// in curl and wget: `--limit-rate 500K`, `--limit-rate 10M`.
    #[arg(long = "limit-rate", value_name = "RATE", value_parser = BytesPerSecond::parse)]
    pub limit_rate: Option<BytesPerSecond>,

    /// fsync each file before it gets its final name, and the directory at the end
    /// (default: off; the kernel writes the data back in its own time).
    #[arg(long = "fsync")]
    pub fsync: bool,

    #[command(flatten)]
    pub network: NetworkArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// How hard to try: retries, timeouts, resume.
#[derive(Debug, Args)]
pub struct NetworkArgs {
    /// Retries of a transient failure: connection errors, resets, short bodies, stalls, and
    /// HTTP 408, 429, 500, 502, 503, 504 (default 3). Other 4xx fail at once.
    #[arg(long = "retries", value_name = "N", default_value_t = 3)]
    pub retries: u32,

    /// Wait before the first retry, doubled for each further one (with jitter, capped at
    /// 30 s); a server's Retry-After is honoured up to 120 s (default 1).
    #[arg(long = "retry-wait", value_name = "SECONDS", value_parser = parse_seconds, default_value = "1")]
    pub retry_wait: Duration,

    /// Give up connecting after this long (default 10).
    #[arg(long = "connect-timeout", value_name = "SECONDS", value_parser = parse_positive_seconds, default_value = "10")]
    pub connect_timeout: Duration,

    /// Stall timeout: an attempt fails when no body bytes arrive for this long (default 30).
    #[arg(long = "timeout", value_name = "SECONDS", value_parser = parse_positive_seconds, default_value = "30")]
    pub stall_timeout: Duration,

    /// Follow at most this many redirects (default 10).
    #[arg(long = "max-redirects", value_name = "N", default_value_t = 10)]
    pub max_redirects: u32,

    /// Discard .part files left by earlier runs instead of resuming them.
    ///
    /// By default a .part file whose response carried a validator (a strong ETag, else
    /// Last-Modified) is resumed with Range and If-Range, so a resume never mixes two
    /// versions of a file. Bodies under 1 MiB are simply fetched again.
    #[arg(long = "no-continue")]
    pub no_continue: bool,

    /// Extra request header, `'Name: value'` (repeatable). An Authorization or Cookie header
    /// is sent only to the host of the URL it was given for, never after a redirect to
    /// another host.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// User-Agent header (default fetchpool/VERSION).
    #[arg(long = "user-agent", value_name = "STRING")]
    pub user_agent: Option<String>,

    /// Use credentials from ~/.netrc (basic auth) for hosts it lists.
    #[arg(long = "netrc")]
    pub netrc: bool,

    /// Use credentials from this netrc file (basic auth) for hosts it lists.
    #[arg(long = "netrc-file", value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Proxy for every request, e.g. http://proxy:3128 or socks5://host:1080 (default: the
    /// http_proxy, https_proxy, all_proxy and no_proxy environment variables).
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,

    /// Trust the CA certificates in this PEM file, in addition to the standard roots.
    #[arg(long = "cacert", value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Do not verify TLS certificates. Anyone on the network path can then read and change
    /// the downloads; use only for testing, and verify digests.
    #[arg(long = "insecure")]
    pub insecure: bool,

    /// Follow redirects from https to plain http (refused by default).
    #[arg(long = "allow-insecure-redirect")]
    pub allow_insecure_redirect: bool,
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
Examples:
  fetchpool verify SHA256SUMS
  fetchpool verify --quiet --ignore-missing release/SHA256SUMS
  curl -s https://example.org/SHA256SUMS | fetchpool verify -

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
#[command(after_long_help = "\
Examples:
  fetchpool hash *.iso > SHA256SUMS
  find data -type f -print | fetchpool hash - > data.sha256
  fetchpool hash --algo sha512 --tag release.tar.gz

Exit status:
  0  every file was hashed
  1  a file could not be read (its line is missing; the others are printed)
  2  usage error")]
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

/// Check that URLs answer, in parallel: status and latency of each (HTTP health check).
///
/// URLs come from the arguments and from `-i FILE` lists in the `get` list format (fields
/// after the URL are allowed and ignored; `-` reads standard input). A malformed line stops
/// the run before any request, with `fetchpool: FILE:LINE: reason` and exit status 2.
///
/// Each probe is a HEAD request on a new connection, redirects followed; a server that
/// answers HEAD with 405 or 501 is asked again with `GET` and `Range: bytes=0-0` (a 206
/// answer to that request counts as 200). Latency is the time until the response headers
/// of the answering request arrived, connecting included. A probe is UP when the final
/// status is in --expect-status, and DOWN otherwise: unexpected status N, connection
/// refused, timed out, TLS error, DNS lookup failed, or another connection error.
///
/// Prints one line per URL per round, in input order: `UP    200     12 ms  URL` or
/// `DOWN  -        -     URL  (connection refused)`, and, with --count above 1, a
/// summary per URL (rounds up, min/median/max latency). -q prints only DOWN lines.
/// With --json, stdout carries one JSON object per probe and a summary object, and the
/// human lines go to stderr. URLs are shown without any `user:password@` part.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Exit status:
  0    every probe of every round was UP
  1    at least one probe was DOWN
  2    usage error, or a malformed or unreadable URL list, before any request
  130  interrupted (SIGINT or SIGTERM)")]
pub struct CheckArgs {
    /// URLs to check (http or https).
    #[arg(value_name = "URL")]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one a line (`-` reads standard input). Repeatable.
    #[arg(short = 'i', long = "input", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,

    /// Concurrent probes (default 8).
    #[arg(short = 'j', long = "jobs", value_name = "N", default_value = "8")]
    pub jobs: NonZeroUsize,

    /// Seconds a probe may take, from DNS lookup to response headers (default 10).
    #[arg(long = "timeout", value_name = "S", default_value = "10", value_parser = parse_positive_seconds)]
    pub timeout: Duration,

    /// Statuses that count as UP: codes, classes and ranges, comma-separated, e.g.
    /// `200,204`, `2xx`, `200-399` (default 2xx,3xx, as Kubernetes HTTP probes).
    #[arg(long = "expect-status", value_name = "LIST", default_value = "2xx,3xx")]
    pub expect_status: StatusSet,

    /// Probe every URL N times, in rounds (default 1).
    #[arg(long = "count", value_name = "N")]
    pub count: Option<NonZeroU32>,

    /// Seconds from the start of one round to the start of the next; needs --count
    /// (default 1). A round that takes longer is followed at once by the next.
    #[arg(long = "interval", value_name = "S", requires = "count", value_parser = parse_seconds)]
    pub interval: Option<Duration>,

    /// Print one JSON object per probe on stdout, and a summary object last.
    #[arg(long = "json")]
    pub json: bool,

    /// Print only DOWN lines (and errors): quiet while all is well, as cron likes.
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// Download generated files from a server inside this process, to show the progress bars.
///
/// Needs no network: the server listens on 127.0.0.1 and serves a few dozen files of
/// KiB to tens of MiB, throttled so the bars are visible for a few seconds.
#[derive(Debug, Args)]
#[command(after_long_help = "\
Examples:
  fetchpool demo
  fetchpool demo -j 4 -d /tmp/demo --progress plain

Exit status: as for fetchpool get.")]
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

/// Parses a number of seconds (`0`, `2`, `0.25`) into a Duration.
/// `4M`, `512K`, `1G` or a plain number of bytes; K, M and G are binary multiples.
fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("'{s}' is not a size (expected e.g. 512K, 4M, 1G)");
    let t = s.trim();
    let (number, scale) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let scale: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                _ => return Err(bad()),
            };
            (&t[..i], scale)
        }
        _ => (t, 1),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    n.checked_mul(scale).filter(|n| *n > 0).ok_or_else(bad)
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, like 2 or 0.5, got '{s}'"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("expected a number of seconds, 0 or more, got '{s}'"))
}

/// Like `parse_seconds`, but 0 is refused: a zero timeout would fail every request.
fn parse_positive_seconds(s: &str) -> Result<Duration, String> {
    match parse_seconds(s)? {
        Duration::ZERO => Err(format!("expected more than 0 seconds, got '{s}'")),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn verify_cli_definition() {
        Cli::command().debug_assert();
    }

    #[test]
    fn seconds_parse_as_fractions_and_refuse_garbage() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_seconds("0"), Ok(Duration::ZERO));
        assert_eq!(parse_seconds(" 3 "), Ok(Duration::from_secs(3)));
        for bad in ["", "-1", "1s", "NaN", "inf", "1e400"] {
            assert!(parse_seconds(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn sizes_take_binary_suffixes_and_refuse_zero_and_garbage() {
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("512k"), Ok(512 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("1000"), Ok(1000));
        for bad in ["0", "", "M", "4X", "-1M", "1.5M", "99999999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn a_timeout_of_zero_is_refused() {
        assert!(parse_positive_seconds("0").is_err());
        assert_eq!(
            parse_positive_seconds("0.1"),
            Ok(Duration::from_millis(100))
        );
    }

    #[test]
    fn check_interval_needs_count() {
        let parse = |args: &[&str]| Cli::try_parse_from(["fetchpool", "check"].iter().chain(args));
        assert!(parse(&["--interval", "1", "http://h/"]).is_err());
        assert!(parse(&["--interval", "1", "--count", "2", "http://h/"]).is_ok());
    }
}
