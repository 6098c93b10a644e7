//! The command line, as clap derive types. The only module that knows clap; no I/O.
//!
//! House rules: every option has an explicit `short` (when it has one) and an upper-case
//! `value_name`; a doc comment's first line is the short help, the rest is the long help
//! and the man page text; every option's doc says its default.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::download::limit::BytesPerSecond;
use crate::input::shard::Shard;
use crate::probe::StatusSet;

/// Download many files at once, fast and safely, and prove that what arrived is what was
/// meant to arrive.
#[derive(Debug, Parser)]
#[command(name = "fetchpool", version, propagate_version = true)]
#[command(max_term_width = MAX_HELP_WIDTH)]
#[command(after_long_help = long_help(None))]
pub struct Cli {
    /// Say more on stderr about what happens: retries with their reason and wait,
    /// redirects, the proxy and TLS roots used, each connection opened or reused (default:
    /// off). Repeatable; -vv adds more.
    #[arg(
        short = 'v',
        long = "verbose",
        action = ArgAction::Count,
        global = true,
        help_heading = HEADING_OUTPUT
    )]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

/// Help wraps to the terminal, but no wider than this: long lines are hard to read.
const MAX_HELP_WIDTH: usize = 100;

// Option headings, so `get --help` reads as groups rather than one flat list.
const HEADING_INPUT: &str = "Input";
const HEADING_OUTPUT_FILES: &str = "Output files";
const HEADING_VERIFY: &str = "Verification";
const HEADING_LIMITS: &str = "Limits";
const HEADING_OUTPUT: &str = "Progress and output format";

/// A titled block of the long help that is also a section of the man page (`EXIT STATUS`,
/// `EXAMPLES`, ...). Bodies are preformatted: the man page keeps their lines as they are,
/// so no line is longer than 72 columns (an 80-column terminal, less man's indent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Section {
    pub title: &'static str,
    pub body: &'static str,
}

/// The extra sections of a (sub)command's long help and man page, by subcommand name
/// (`None`: the top-level command).
pub(crate) fn sections(subcommand: Option<&str>) -> &'static [Section] {
    match subcommand {
        None => TOP_SECTIONS,
        Some("get") => GET_SECTIONS,
        Some("verify") => VERIFY_SECTIONS,
        Some("hash") => HASH_SECTIONS,
        Some("check") => CHECK_SECTIONS,
        Some("demo") => DEMO_SECTIONS,
        Some("completions") => COMPLETIONS_SECTIONS,
        Some("man") => MAN_SECTIONS,
        Some(_) => &[],
    }
}

/// The text after the options in `--help`: each section titled and indented.
fn long_help(subcommand: Option<&str>) -> String {
    let mut out = String::new();
    for section in sections(subcommand) {
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(section.title);
        out.push_str(":\n");
        for line in section.body.lines() {
            if !line.is_empty() {
                out.push_str("  ");
                out.push_str(line);
            }
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

const TOP_SECTIONS: &[Section] = &[
    Section {
        title: "See also",
        body: "\
get downloads; verify and hash check and make checksum manifests (a
parallel sha256sum -c and sha256sum); check probes URLs; demo shows it
all on a built-in server. See fetchpool-get(1), fetchpool-verify(1),
fetchpool-hash(1), fetchpool-check(1), fetchpool-demo(1).",
    },
    Section {
        title: "Environment",
        body: "\
http_proxy, https_proxy, all_proxy, no_proxy (HTTPS_PROXY, ALL_PROXY,
NO_PROXY too; not HTTP_PROXY)
               proxies for get and check, by curl's rules (--proxy
               and --noproxy override them)
SSL_CERT_FILE, SSL_CERT_DIR
               trust these CA certificates instead of the system
               store (--cacert and --capath override them)
NETRC          the file --netrc reads (default ~/.netrc)
NO_COLOR       no colours in progress bars",
    },
    Section {
        title: "Exit status",
        body: "\
0    everything asked for is there (downloaded, verified, present)
1    at least one download, read or check failed
2    usage or input error (bad option, malformed list or manifest
     line), found before any work
3    at least one checksum mismatch, a manifest signature that is
     missing or bad (--signed-by), or a file without a digest
     (--require-digest); wins over 1
130  interrupted (SIGINT)
143  terminated (SIGTERM)",
    },
];

const GET_SECTIONS: &[Section] = &[
    Section {
        title: "Files",
        body: "\
NAME.part
    bytes being downloaded; renamed to NAME only once complete and
    verified
NAME.part.fetchpool
    the validator (ETag or Last-Modified) a .part was started with,
    so a later run resumes it with Range and If-Range (1 MiB or more)
(unnamed)
    a body that cannot be resumed goes to an unnamed file (O_TMPFILE)
    instead of NAME.part, linked as NAME once complete and verified

A file whose digest does not match is deleted: nothing is left under
NAME or NAME.part, and the run exits 3. An existing NAME is never
replaced without --overwrite, not even when it appears while its
download runs. A run that stops with exit status 2 creates nothing,
not even the -d directory.

A run holds an advisory lock (flock) on each NAME.part it writes
until the file has landed. Another run into the same directory leaves
a locked NAME.part alone and reports that file as failed, \"busy\"
(exit status 1; --failed lists it for a later run).",
    },
    Section {
        title: "Environment",
        body: "\
http_proxy (http URLs), https_proxy or HTTPS_PROXY (https URLs),
all_proxy or ALL_PROXY (both), no_proxy or NO_PROXY
    proxies by curl's rules, unless --proxy / --noproxy
SSL_CERT_FILE, SSL_CERT_DIR
    CA certificates to trust instead of the system store, unless
    --cacert / --capath
NETRC
    the file --netrc reads (default ~/.netrc)
TMPDIR
    where a -c manifest fetched by URL is kept while the run lasts",
    },
    Section {
        title: "Examples",
        body: "\
fetchpool get -d data -i urls.txt
producer | fetchpool get -i -      # starts at the first line read
fetchpool get -i urls.txt --failed retry.txt ||
    fetchpool get -i retry.txt
fetchpool get -d set -i urls.txt --write-checksums set/SHA256SUMS
    (cd set && sha256sum -c SHA256SUMS)
fetchpool get --base-url https://example.org/rel/ \\
    -c https://example.org/rel/SHA256SUMS
fetchpool get -c https://example.org/rel/SHA256SUMS \\
    --signed-by release-key.asc -d rel   # whole release, signed
fetchpool get -i https://example.org/rel/release.meta4 -d rel
fetchpool get --json -i urls.txt |
    jq -r 'select(.status != \"ok\") | .url'",
    },
    Section {
        title: "Exit status",
        body: "\
0    everything asked for is there (downloaded, verified, present)
1    at least one download failed
2    usage or input error (bad option, malformed list or manifest
     line, a list or manifest that cannot be read, path or URL,
     unusable -d DIR), before any download; a bad line read
     later from a stream (-i -) stops the run there, also with 2
3    at least one checksum mismatch, a manifest signature that is
     missing or bad (--signed-by: nothing is written, not even -d),
     or a file without a digest (--require-digest); wins over 1
130  interrupted (SIGINT); .part files are kept, and --failed lists
     every job that did not end ok or skipped
143  terminated (SIGTERM), as 130",
    },
];

const VERIFY_SECTIONS: &[Section] = &[
    Section {
        title: "Examples",
        body: "\
fetchpool verify SHA256SUMS
fetchpool verify -C /data/set /data/set.sha256
fetchpool verify --quiet --ignore-missing release/SHA256SUMS
curl -s https://example.org/SHA256SUMS | fetchpool verify -",
    },
    Section {
        title: "Exit status",
        body: "\
0    every listed file matched
1    a listed file is missing or unreadable
2    usage error, or a malformed manifest line (before any hashing)
3    at least one checksum mismatch, or a manifest signature that is
     missing or bad (--signed-by); wins over 1
130  interrupted (SIGINT); the summary is still printed
143  terminated (SIGTERM), as 130",
    },
];

const HASH_SECTIONS: &[Section] = &[
    Section {
        title: "Examples",
        body: "\
fetchpool hash *.iso > SHA256SUMS
echo hello | fetchpool hash
find data -type f -print0 | fetchpool hash -0 --files-from - > data.sums
fetchpool hash --algo sha512 --tag release.tar.gz",
    },
    Section {
        title: "Exit status",
        body: "\
0    every file was hashed
1    a file could not be read (its line is missing; the rest print)
2    usage error
130  interrupted (SIGINT); lines already hashed are kept
143  terminated (SIGTERM), as 130",
    },
];

const CHECK_SECTIONS: &[Section] = &[
    Section {
        title: "Examples",
        body: "\
fetchpool check https://example.org/ https://example.org/api/health
fetchpool check -q -i services.txt     # from cron: only DOWN lines
fetchpool check --count 12 --interval 5 https://example.org/
producer | fetchpool check -i -        # probes each line as it arrives",
    },
    Section {
        title: "Exit status",
        body: "\
0    every probe of every round was UP
1    at least one probe was DOWN
2    usage error, or a malformed or unreadable URL list, before any
     request; a bad line read later from a stream (-i -) stops the
     run there, also with 2
130  interrupted (SIGINT)
143  terminated (SIGTERM)",
    },
];

const DEMO_SECTIONS: &[Section] = &[
    Section {
        title: "Examples",
        body: "\
fetchpool demo
fetchpool demo -j 4 -d /tmp/demo --progress plain",
    },
    Section {
        title: "Exit status",
        body: "As for fetchpool get.",
    },
];

const COMPLETIONS_SECTIONS: &[Section] = &[
    Section {
        title: "Examples",
        body: "\
fetchpool completions bash \\
    > ~/.local/share/bash-completion/completions/fetchpool
fetchpool completions zsh > ~/.zfunc/_fetchpool
fetchpool completions fish \\
    > ~/.config/fish/completions/fetchpool.fish",
    },
    Section {
        title: "Exit status",
        body: "\
0    the script was written
1    standard output could not be written
2    usage error (unknown shell)",
    },
];

const MAN_SECTIONS: &[Section] = &[
    Section {
        title: "Examples",
        body: "\
fetchpool man get | man -l -
fetchpool man > ~/.local/share/man/man1/fetchpool.1",
    },
    Section {
        title: "Exit status",
        body: "\
0    the page was written
1    standard output could not be written
2    usage error (unknown subcommand)",
    },
];

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
    Completions(CompletionsArgs),
    Man(ManArgs),
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
    #[arg(short = 'q', long = "quiet", help_heading = HEADING_OUTPUT)]
    pub quiet: bool,

    /// Print one JSON object per finished item on stdout, and a summary object last.
    #[arg(long = "json", help_heading = HEADING_OUTPUT)]
    pub json: bool,

    /// Progress display on stderr (default auto: bars on a terminal, plain lines otherwise).
    #[arg(
        long = "progress",
        value_name = "MODE",
        value_enum,
        default_value_t = ProgressMode::Auto,
        hide_default_value = true,
        help_heading = HEADING_OUTPUT
    )]
    pub progress: ProgressMode,
}

/// Download URLs in parallel into a directory, verifying digests when known.
///
/// URLs come from the arguments and from `-i FILE` lists (one URL a line, `-` for stdin,
/// which is read as it streams: the first download starts as soon as its line is read).
/// A list line may carry fields after the URL: `out=NAME` picks the output file name,
/// `sha256=HEX` (or sha224=, sha384=, sha512=) gives the digest the file must have,
/// `mirror=URL` (repeatable) another URL for the same bytes, tried in order when the ones
/// before it fail for good (connection error, HTTP error, stall, after their retries)
/// or serve bytes that do not match the digest (a resumed or split body included).
/// Blank lines and lines starting with `#` are ignored. A malformed line stops the run
/// before any download, with `fetchpool: FILE:LINE: reason` and exit status 2.
///
/// Each file is written to NAME.part in the output directory and renamed to NAME only
/// when its body is complete and, if its digest is known, verified. A file that already
/// exists under its final name is skipped (and verified, when its digest is known)
/// unless --overwrite is given.
#[derive(Debug, Args)]
#[command(after_long_help = long_help(Some("get")))]
pub struct GetArgs {
    /// URLs to download (http or https).
    #[arg(value_name = "URL", help_heading = HEADING_INPUT)]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one a line (`-` reads standard input as it streams). Repeatable.
    ///
    /// FILE may also be a Metalink 4 document (RFC 5854, recognised by content, not by
    /// name), and may be an http(s) URL, fetched first (retried as downloads are; one that
    /// cannot be read stops the run, exit 2). Each Metalink `<file>` is one job:
    /// its http(s) `<url>`s by priority (1 first), its sha-256 (else sha-512) `<hash>` as
    /// the digest, and its name, which may hold directories made inside -d (never absolute,
    /// never `.` or `..`: such an entry stops the run with FILE:LINE, exit 2).
    #[arg(short = 'i', long = "input", value_name = "FILE", help_heading = HEADING_INPUT)]
    pub inputs: Vec<PathBuf>,

    /// Directory to write into; created if missing (default: the current directory).
    #[arg(
        short = 'd',
        long = "dir",
        value_name = "DIR",
        default_value = ".",
        hide_default_value = true,
        help_heading = HEADING_OUTPUT_FILES
    )]
    pub dir: PathBuf,

    /// Replace files that already exist under their final name (default: skip them).
    #[arg(long = "overwrite", help_heading = HEADING_OUTPUT_FILES)]
    pub overwrite: bool,

    /// Checksum manifest (GNU `HEX  NAME` or BSD `SHA256 (NAME) = HEX`) whose digests the
    /// downloads must match, by output name; a path or an http(s) URL. Repeatable.
    ///
    /// A URL (and a signature beside it) is read before any download, with the retries
    /// (--retries, --retry-wait, Retry-After), timeouts, TLS and proxy rules of downloads;
    /// one that cannot be read stops the run (exit 2, naming the URL and the HTTP status).
    #[arg(
        short = 'c',
        long = "checksums",
        value_name = "FILE|URL",
        help_heading = HEADING_VERIFY
    )]
    pub checksums: Vec<String>,

    /// With -c and no URLs: download every file the manifest names from this base URL.
    #[arg(long = "base-url", value_name = "URL", help_heading = HEADING_INPUT)]
    pub base_url: Option<String>,

    /// After the run, write a sha256sum-format manifest of every file that landed.
    ///
    /// Names in it are relative to FILE's own directory, so `cd` there and `sha256sum -c
    /// FILE` (or `fetchpool verify FILE` from there) checks the files where they are.
    #[arg(
        long = "write-checksums",
        value_name = "FILE",
        help_heading = HEADING_OUTPUT_FILES
    )]
    pub write_checksums: Option<PathBuf>,

    /// After the run, write the jobs that failed (or were interrupted) to FILE in the URL
    /// list format, so `fetchpool get -i FILE` retries exactly them. Written even when empty.
    #[arg(long = "failed", value_name = "FILE", help_heading = HEADING_OUTPUT_FILES)]
    pub failed: Option<PathBuf>,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(
        long = "hash-workers",
        value_name = "N",
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_VERIFY
    )]
    pub hash_workers: Option<NonZeroUsize>,

    /// Take only shard K of N of the jobs, to split one list across N runs (default: all).
    ///
    /// Job number i (0-based, in input order, counting URLs, not blank or comment lines)
    /// belongs to shard (i mod N) + 1: round-robin, so shard sizes differ by at most one
    /// and appending to the list never moves a job to another shard. Every shard still
    /// validates the whole list (syntax, duplicate output names) before it starts. Give
    /// each of N machines the same list and its own K: a Kubernetes Indexed Job, a Slurm
    /// array or GNU parallel (see the README).
    #[arg(
        long = "shard",
        value_name = "K/N",
        value_parser = Shard::parse,
        help_heading = HEADING_INPUT
    )]
    pub shard: Option<Shard>,

    /// Concurrent downloads (default 8).
    #[arg(
        short = 'j',
        long = "jobs",
        value_name = "N",
        default_value = "8",
        hide_default_value = true,
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub jobs: NonZeroUsize,

    /// Downloads at once from one host (host:port), at most (default: -j, no extra cap).
    ///
    /// Threads beyond the cap wait for a slot on that host. Redirects are counted against
    /// the host of the original URL.
    #[arg(
        long = "max-per-host",
        value_name = "N",
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub max_per_host: Option<NonZeroUsize>,

    /// Split only files of at least twice SIZE over several connections (default 4M).
    ///
    /// Once every job has a thread, idle download threads split big files: each takes the
    /// lowest missing piece of a file in flight and fetches it over its own connection
    /// (Range + If-Range) into the same .part, then the next piece on the same connection.
    /// A piece lasts about 32 ms at the rate the file's connections move, between 256K (or
    /// SIZE, if smaller) and 16M. A file is split only when its first answer proves it
    /// safe: a length, `Accept-Ranges: bytes`, and a strong validator (ETag, else
    /// Last-Modified) or a known digest; and only while its connections move under
    /// 256 MiB/s each (64 MiB/s when the CPUs are 85% busy) and one of them would still
    /// need more than a quarter of a second for its missing bytes, at the rate they moved.
    /// SIZE is bytes, with an optional K, M or G suffix (binary: 1M = 1048576).
    #[arg(
        long = "min-split-size",
        value_name = "SIZE",
        value_parser = parse_size,
        default_value = "4M",
        hide_default_value = true,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub min_split_size: u64,

    /// Connections one file may use at once, its first included (default: no cap beyond
    /// -j and --max-per-host).
    #[arg(
        long = "max-connections-per-file",
        value_name = "N",
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub max_connections_per_file: Option<NonZeroUsize>,

    /// Never split a file over several connections: one connection per file.
    #[arg(long = "no-split", help_heading = HEADING_LIMITS)]
    pub no_split: bool,

    /// Cap the download rate of the whole run, shared by all downloads (default: no cap).
    ///
    /// RATE is bytes a second, with an optional K, M or G suffix (binary: 1K = 1024), as
    /// in curl and wget: `--limit-rate 500K`, `--limit-rate 10M`.
    #[arg(
        long = "limit-rate",
        value_name = "RATE",
        value_parser = BytesPerSecond::parse,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub limit_rate: Option<BytesPerSecond>,

    /// fsync each file before it gets its final name, and the directory at the end
    /// (default: off; the kernel writes the data back in its own time).
    #[arg(long = "fsync", help_heading = HEADING_OUTPUT_FILES)]
    pub fsync: bool,

    /// Discard .part files left by earlier runs instead of resuming them.
    ///
    /// By default a .part file whose response carried a validator (a strong ETag, else
    /// Last-Modified) is resumed with Range and If-Range, so a resume never mixes two
    /// versions of a file. Bodies under 1 MiB are simply fetched again.
    #[arg(long = "no-continue", help_heading = HEADING_OUTPUT_FILES)]
    pub no_continue: bool,

    #[command(flatten)]
    pub net: NetArgs,

    #[command(flatten)]
    pub output: OutputArgs,

    /// Trust the -c manifests only if KEY signed them; repeatable: any one key may sign.
    ///
    /// KEY is a file holding a minisign or signify public key, or an OpenPGP public key or
    /// keyring (armored or binary), or a minisign public key given as its `RW...` string.
    /// The signature is the one given with --signature, or the one inside the manifest (an
    /// OpenPGP clearsigned manifest, signify's embedded form as in OpenBSD's SHA256.sig),
    /// or the first found beside the manifest, path or URL, in this order: MANIFEST.minisig
    /// (with a minisign or signify key), MANIFEST.sig, MANIFEST.asc, MANIFEST.gpg,
    /// MANIFEST.sign (these three with an OpenPGP key). Only the signed text is read.
    ///
    /// A missing, malformed or bad signature, one that cannot be read (after its retries),
    /// an unknown, expired or revoked key: exit 3 before anything is downloaded or written
    /// (not even the -d directory), with one line naming the manifest, the signature and
    /// the key. Implies --require-digest.
    /// (default: manifests are not checked for signatures)
    #[arg(long = "signed-by", value_name = "KEY", help_heading = HEADING_VERIFY)]
    pub signed_by: Vec<String>,

    /// The signature of the -c manifest, a path or an http(s) URL (default: looked for
    /// inside and beside the manifest; see --signed-by). Needs --signed-by and one -c.
    #[arg(
        long = "signature",
        value_name = "FILE|URL",
        requires = "signed_by",
        help_heading = HEADING_VERIFY
    )]
    pub signature: Option<String>,

    /// Fail (exit 3) every file whose digest is not known from a -c manifest or its list
    /// line, and publish none of them (default: off; on with --signed-by).
    #[arg(long = "require-digest", help_heading = HEADING_VERIFY)]
    pub require_digest: bool,
}

/// Every network option of a command that talks HTTP: timeouts, retries, redirects,
/// headers, credentials, proxy and TLS. Self-contained, so any subcommand can flatten it;
/// `settings::Http::from_args` turns it into the HTTP settings.
#[derive(Debug, Args)]
#[command(next_help_heading = "Network")]
pub(crate) struct NetArgs {
    /// Retries of a transient failure: connection errors, resets, short bodies, stalls, and
    /// HTTP 408, 429, 500, 502, 503, 504 (default 3). Other 4xx fail at once.
    #[arg(
        long = "retries",
        value_name = "N",
        default_value = "3",
        hide_default_value = true,
        value_parser = parse_whole,
        allow_negative_numbers = true
    )]
    pub retries: u32,

    /// Wait before the first retry, doubled for each further one (with jitter, capped at
    /// 30 s); a server's Retry-After is honoured up to 120 s (default 1).
    #[arg(
        long = "retry-wait",
        value_name = "SECONDS",
        value_parser = parse_seconds,
        default_value = "1",
        hide_default_value = true,
        allow_negative_numbers = true
    )]
    pub retry_wait: Duration,

    /// Give up connecting after this long (default 10).
    #[arg(
        long = "connect-timeout",
        value_name = "SECONDS",
        value_parser = parse_positive_seconds,
        default_value = "10",
        hide_default_value = true,
        allow_negative_numbers = true
    )]
    pub connect_timeout: Duration,

    /// Stall timeout: an attempt fails when no body bytes arrive for this long (default 30).
    #[arg(
        long = "timeout",
        value_name = "SECONDS",
        value_parser = parse_positive_seconds,
        default_value = "30",
        hide_default_value = true,
        allow_negative_numbers = true
    )]
    pub stall_timeout: Duration,

    /// Follow at most this many redirects (default 10).
    #[arg(
        long = "max-redirects",
        value_name = "N",
        default_value = "10",
        hide_default_value = true,
        value_parser = parse_whole,
        allow_negative_numbers = true
    )]
    pub max_redirects: u32,

    /// Extra request header, `'Name: value'` (repeatable). An Authorization or Cookie header
    /// is sent only to the host of the URL it was given for, never after a redirect to
    /// another host.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// User-Agent header (default fetchpool/VERSION).
    #[arg(long = "user-agent", value_name = "STRING")]
    pub user_agent: Option<String>,

    /// Use credentials from ~/.netrc, or the file NETRC names, (basic auth) for hosts it
    /// lists.
    #[arg(long = "netrc")]
    pub netrc: bool,

    /// Use credentials from this netrc file (basic auth) for hosts it lists.
    #[arg(long = "netrc-file", value_name = "FILE")]
    pub netrc_file: Option<PathBuf>,

    /// Proxy for every URL (default: the http_proxy, https_proxy and all_proxy variables).
    ///
    /// URL is http://, https:// (TLS to the proxy), socks4://, socks4a://, socks5:// or
    /// socks5h:// (the proxy resolves names), with `user:password@` if the proxy wants a
    /// login; no scheme means http://, no port means 1080 (443 for https://). It overrides
    /// every proxy variable; `--proxy ''` means no proxy at all. Hosts in --noproxy (else
    /// no_proxy) are still reached directly. See "Proxies and TLS" in the README.
    #[arg(long = "proxy", value_name = "URL")]
    pub proxy: Option<String>,

    /// Hosts reached without a proxy, comma-separated (default: the no_proxy variable).
    ///
    /// `*` means every host; a name matches itself and every name under it
    /// (`example.org` matches `www.example.org`); IP addresses and CIDR ranges
    /// (`10.0.0.0/8`, `::1`) match URLs that name an IP. Replaces no_proxy and NO_PROXY.
    #[arg(long = "noproxy", value_name = "LIST")]
    pub noproxy: Option<String>,

    /// Trust only the CA certificates in this PEM file (default: the system store).
    ///
    /// With --cacert or --capath, exactly those certificates are trusted, as in curl:
    /// neither the system store nor SSL_CERT_FILE/SSL_CERT_DIR. Without them,
    /// SSL_CERT_FILE and SSL_CERT_DIR replace the system store when set. Certificates are
    /// read by the first TLS connection (a run of http URLs reads none), but a bad
    /// --cacert or --capath stops the run before any work (exit 2).
    #[arg(long = "cacert", value_name = "FILE")]
    pub cacert: Option<PathBuf>,

    /// Trust only the CA certificates in the PEM files of this directory (default: the
    /// system store); combines with --cacert.
    #[arg(long = "capath", value_name = "DIR")]
    pub capath: Option<PathBuf>,

    /// Do not verify TLS certificates. Anyone on the network path can then read and change
    /// the downloads; use only for testing, and verify digests.
    #[arg(short = 'k', long = "insecure")]
    pub insecure: bool,

    /// Follow redirects from https to plain http (refused by default).
    #[arg(long = "allow-insecure-redirect")]
    pub allow_insecure_redirect: bool,
}

/// Check files against checksum manifests, in parallel (like `sha256sum -c`).
///
/// Reads every line `sha256sum -c` reads: GNU (`HEX  NAME`, `HEX *NAME`, and the one-space
/// `HEX NAME`), BSD (`SHA256 (NAME) = HEX`) and backslash-escaped names, mixed freely; the
/// algorithm follows the tag or the digest's length. As with sha256sum, names are relative
/// to the current directory, or to DIR with -C DIR; absolute names and names with a `..`
/// component are refused (reported as FAILED open or read). Every manifest line is
/// checked before any file is read: a malformed one stops the run with exit status 2
/// (stricter than sha256sum, which skips it). Prints `NAME: OK`, `NAME: FAILED` or `NAME:
/// FAILED open or read` per file, in manifest order.
#[derive(Debug, Args)]
#[command(after_long_help = long_help(Some("verify")))]
pub struct VerifyArgs {
    /// Manifest files (`-` reads standard input; the default when none is given).
    #[arg(value_name = "MANIFEST")]
    pub manifests: Vec<PathBuf>,

    /// Accepted and ignored, so `sha256sum -c FILE` becomes `fetchpool verify -c FILE`.
    #[arg(short = 'c', long = "check", help_heading = HEADING_INPUT)]
    pub check: bool,

    /// Look for the listed files in DIR (default: the current directory).
    #[arg(short = 'C', long = "directory", value_name = "DIR", help_heading = HEADING_INPUT)]
    pub directory: Option<PathBuf>,

    /// Don't fail or report for files that are missing.
    #[arg(long = "ignore-missing", help_heading = HEADING_VERIFY)]
    pub ignore_missing: bool,

    /// Exit non-zero for improperly formatted lines: always so here (exit status 2, before
    /// any file is read); accepted for sha256sum compatibility.
    #[arg(long = "strict", help_heading = HEADING_VERIFY)]
    pub strict: bool,

    /// Warn about improperly formatted lines: always so here (each stops the run, named by
    /// FILE:LINE); accepted for sha256sum compatibility.
    #[arg(short = 'w', long = "warn", help_heading = HEADING_VERIFY)]
    pub warn: bool,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(
        long = "hash-workers",
        value_name = "N",
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub hash_workers: Option<NonZeroUsize>,

    /// Don't print OK for each successfully verified file.
    #[arg(short = 'q', long = "quiet", help_heading = HEADING_OUTPUT)]
    pub quiet: bool,

    /// Print nothing but why a listed file cannot be read (on stderr, as sha256sum does);
    /// the exit status tells.
    #[arg(long = "status", help_heading = HEADING_OUTPUT)]
    pub status: bool,

    /// Print one JSON object per file on stdout, and a summary object last.
    #[arg(long = "json", help_heading = HEADING_OUTPUT)]
    pub json: bool,

    /// Trust the manifests only if KEY signed them; repeatable: any one key may sign.
    ///
    /// KEY and where signatures are found: as for `fetchpool get --signed-by`. A missing,
    /// malformed or bad signature, an unknown, expired or revoked key: exit 3 before any
    /// file is read. (default: manifests are not checked for signatures)
    #[arg(long = "signed-by", value_name = "KEY", help_heading = HEADING_VERIFY)]
    pub signed_by: Vec<String>,

    /// The signature of the manifest (default: looked for inside and beside it). Needs
    /// --signed-by and one manifest.
    #[arg(
        long = "signature",
        value_name = "FILE",
        requires = "signed_by",
        help_heading = HEADING_VERIFY
    )]
    pub signature: Option<PathBuf>,
}

/// Print checksums of files, in parallel (like `sha256sum`).
///
/// Lines come out in the order of the arguments, in GNU format (`HEX  NAME`) or, with
/// --tag, BSD format, byte for byte as sha256sum writes them (names holding a newline or
/// a backslash are escaped as sha256sum escapes them). With no FILE, or when FILE is `-`,
/// standard input's bytes are hashed. --files-from reads the names to hash from a file or
/// from standard input, one a line, or NUL-separated with -0 (`find -print0`).
#[derive(Debug, Args)]
#[command(after_long_help = long_help(Some("hash")))]
pub struct HashArgs {
    /// Files to hash (`-`, or none at all: standard input's bytes).
    #[arg(value_name = "FILE", help_heading = HEADING_INPUT)]
    pub files: Vec<PathBuf>,

    /// Also hash the files named in LIST, one a line (`-` reads the names from standard
    /// input; blank lines are skipped).
    #[arg(long = "files-from", value_name = "LIST", help_heading = HEADING_INPUT)]
    pub files_from: Option<PathBuf>,

    /// Names in --files-from end with a NUL byte, not a newline (`find -print0`).
    #[arg(
        short = '0',
        long = "null",
        requires = "files_from",
        help_heading = HEADING_INPUT
    )]
    pub null: bool,

    /// Algorithm (default sha256).
    #[arg(
        short = 'a',
        long = "algo",
        value_name = "ALGO",
        value_enum,
        default_value_t = AlgoArg::Sha256,
        hide_default_value = true,
        help_heading = HEADING_OUTPUT
    )]
    pub algo: AlgoArg,

    /// Write BSD-style lines: `SHA256 (NAME) = HEX`.
    #[arg(long = "tag", help_heading = HEADING_OUTPUT)]
    pub tag: bool,

    /// Mark lines as binary: `HEX *NAME` (as `sha256sum -b`; the bytes hashed are the same).
    #[arg(short = 'b', long = "binary", conflicts_with = "tag", help_heading = HEADING_OUTPUT)]
    pub binary: bool,

    /// Mark lines as text: `HEX  NAME` (the default).
    #[arg(short = 't', long = "text", conflicts_with_all = ["tag", "binary"], help_heading = HEADING_OUTPUT)]
    pub text: bool,

    /// End each line with a NUL byte, not a newline, and escape no name (as `sha256sum -z`).
    #[arg(short = 'z', long = "zero", conflicts_with = "json", help_heading = HEADING_OUTPUT)]
    pub zero: bool,

    /// Hash worker processes (default: the number of CPUs).
    #[arg(
        long = "hash-workers",
        value_name = "N",
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub hash_workers: Option<NonZeroUsize>,

    /// Print one JSON object per file on stdout instead of manifest lines.
    #[arg(long = "json", help_heading = HEADING_OUTPUT)]
    pub json: bool,

    /// Print only errors on stderr (hash shows no progress; this turns -v off).
    #[arg(short = 'q', long = "quiet", help_heading = HEADING_OUTPUT)]
    pub quiet: bool,
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
/// after the URL are allowed and ignored). A malformed line stops the run before any
/// request, with `fetchpool: FILE:LINE: reason` and exit status 2. `-i -` reads standard
/// input as it streams: round one probes each URL as its line arrives, later rounds read a
/// copy kept in an unnamed temporary file, and a malformed line there ends the run at that
/// line (exit status 2).
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
#[command(after_long_help = long_help(Some("check")))]
#[command(mut_arg("stall_timeout", |a| a
    .default_value("10")
    .help("Seconds a probe may take, from DNS lookup to response headers (default 10)")))]
#[command(mut_arg("retries", |a| a
    .default_value("0")
    .help("Probe again after a transient failure (connection error, timeout, HTTP 408, 429, \
           500, 502, 503, 504) up to N times before saying DOWN (default 0)")))]
pub struct CheckArgs {
    /// URLs to check (http or https).
    #[arg(value_name = "URL", help_heading = HEADING_INPUT)]
    pub urls: Vec<String>,

    /// Read URLs from FILE, one a line (`-` reads standard input as it streams). Repeatable.
    #[arg(short = 'i', long = "input", value_name = "FILE", help_heading = HEADING_INPUT)]
    pub inputs: Vec<PathBuf>,

    /// Concurrent probes (default 8).
    #[arg(
        short = 'j',
        long = "jobs",
        value_name = "N",
        default_value = "8",
        hide_default_value = true,
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub jobs: NonZeroUsize,

    /// Statuses that count as UP: codes, classes and ranges, comma-separated, e.g.
    /// `200,204`, `2xx`, `200-399` (default 2xx,3xx, as Kubernetes HTTP probes).
    #[arg(
        long = "expect-status",
        value_name = "LIST",
        default_value = "2xx,3xx",
        hide_default_value = true,
        help_heading = HEADING_VERIFY
    )]
    pub expect_status: StatusSet,

    /// Probe every URL N times, in rounds (default 1).
    #[arg(
        long = "count",
        value_name = "N",
        value_parser = parse_count_u32,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub count: Option<NonZeroU32>,

    /// Seconds from the start of one round to the start of the next; needs --count
    /// (default 1). A round that takes longer is followed at once by the next.
    #[arg(
        long = "interval",
        value_name = "SECONDS",
        requires = "count",
        value_parser = parse_seconds,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub interval: Option<Duration>,

    /// Print one JSON object per probe on stdout, and a summary object last.
    #[arg(long = "json", help_heading = HEADING_OUTPUT)]
    pub json: bool,

    /// Print only DOWN lines (and errors): quiet while all is well, as cron likes.
    #[arg(short = 'q', long = "quiet", help_heading = HEADING_OUTPUT)]
    pub quiet: bool,

    /// The network options of `get` (one shared set), with check's own defaults and
    /// meanings for --timeout and --retries (see `mut_arg` above).
    #[command(flatten)]
    pub net: NetArgs,
}

/// Download generated files from a server inside this process, to show the progress bars.
///
/// Needs no network: the server listens on 127.0.0.1 and serves a few dozen files of
/// KiB to tens of MiB (about 200 MiB in all), throttled so the bars are visible for a few
/// seconds. Without -d the files go to a new temporary directory, named at the start and
/// removed at the end, after an interrupt (Ctrl-C) too. With -d DIR they stay; a file
/// already there under a demo file's name is never overwritten, only verified.
#[derive(Debug, Args)]
#[command(after_long_help = long_help(Some("demo")))]
pub struct DemoArgs {
    /// Directory to download into, kept afterwards (default: a new temporary directory,
    /// removed at the end).
    #[arg(short = 'd', long = "dir", value_name = "DIR", help_heading = HEADING_OUTPUT_FILES)]
    pub dir: Option<PathBuf>,

    /// Concurrent downloads (default 8).
    #[arg(
        short = 'j',
        long = "jobs",
        value_name = "N",
        default_value = "8",
        hide_default_value = true,
        value_parser = parse_count,
        allow_negative_numbers = true,
        help_heading = HEADING_LIMITS
    )]
    pub jobs: NonZeroUsize,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Print a shell completion script on standard output.
///
/// The script completes subcommands, options and their values. Install it where your
/// shell looks for completions (see the examples), or load it for this session only, for
/// bash: `source <(fetchpool completions bash)`.
#[derive(Debug, Args)]
#[command(after_long_help = long_help(Some("completions")))]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_name = "SHELL", value_enum)]
    pub shell: ShellArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Print a man page (roff) on standard output.
///
/// Without SUBCOMMAND, the page of fetchpool itself; `fetchpool man get` gives
/// fetchpool-get(1). Read it with `fetchpool man get | man -l -`, or install every page:
/// they are also in the man/ directory of the source.
#[derive(Debug, Args)]
#[command(after_long_help = long_help(Some("man")))]
pub struct ManArgs {
    /// The subcommand whose page to print (default: the page of fetchpool itself).
    #[arg(value_name = "SUBCOMMAND", value_parser = ["get", "verify", "hash", "check", "demo", "completions", "man"])]
    pub subcommand: Option<String>,
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

    /// Directory to write into; must exist.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GenerateKind {
    /// Man pages: fetchpool.1 and one per subcommand.
    Man,
    /// Shell completions for bash, zsh and fish.
    Completions,
}

/// Parses a count of at least 1 (`-j`, `--hash-workers`, `--max-per-host`), saying what is
/// allowed: clap's own message for 0 is "number would be zero for non-zero type".
fn parse_count(s: &str) -> Result<NonZeroUsize, String> {
    s.trim()
        .parse::<usize>()
        .ok()
        .and_then(NonZeroUsize::new)
        .ok_or_else(|| format!("expected a whole number >= 1, got {s}"))
}

/// `parse_count` for `--count`.
fn parse_count_u32(s: &str) -> Result<NonZeroU32, String> {
    s.trim()
        .parse::<u32>()
        .ok()
        .and_then(NonZeroU32::new)
        .ok_or_else(|| format!("expected a whole number >= 1, got {s}"))
}

/// Parses a whole number of at least 0 (`--retries`, `--max-redirects`).
fn parse_whole(s: &str) -> Result<u32, String> {
    s.trim()
        .parse::<u32>()
        .map_err(|_| format!("expected a whole number >= 0, got {s}"))
}

/// `4M`, `512K`, `1G` or a plain number of bytes; K, M and G are binary multiples.
fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("expected a size of at least 1 byte, like 512K, 4M or 1G, got {s}");
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

/// Parses a number of seconds (`0`, `2`, `0.25`) into a Duration.
fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds >= 0, like 2 or 0.5, got {s}"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("expected a number of seconds >= 0, like 2 or 0.5, got {s}"))
}

/// Like `parse_seconds`, but 0 is refused: a zero timeout would fail every request.
fn parse_positive_seconds(s: &str) -> Result<Duration, String> {
    match parse_seconds(s)? {
        Duration::ZERO => Err(format!("expected a number of seconds > 0, got {s}")),
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
