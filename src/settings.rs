//! Raw command-line arguments ─► validated, typed settings (defaults applied, terminal
//! detected, test hooks read). The only place that reads `FETCHPOOL_TEST_*` variables.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{GetArgs, NetArgs, OutputArgs, ProgressMode};
use crate::download::limit::BytesPerSecond;
use crate::download::netrc::Netrc;
use crate::download::proxy::ProxyRules;
use crate::download::retry::Backoff;
use crate::download::segments::SplitPolicy;
use crate::download::tls::LazyTrust;
use crate::error::Error;
use crate::hashpool::PoolConfig;
use crate::input::shard::Shard;
use crate::trust::Keyring;

/// How the run talks to people and scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Output {
    pub progress: Progress,
    /// One JSON object per finished item on stdout.
    pub json: bool,
    /// How often plain mode prints a progress line (10 s; `FETCHPOOL_TEST_PROGRESS_MS`).
    pub plain_tick: Duration,
    /// `get -c`: manifests give the digests, so a file they do not list is said to be
    /// unverified (`not in manifest, not verified`).
    pub manifests: bool,
}

/// What stderr shows while work goes on: `--progress` and `-q` resolved against the
/// terminal (`cli::ProgressMode` is the raw choice).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    /// indicatif bars: one per active file (as many as fit) and a total.
    Bars,
    /// One line per finished file and a progress line every `PLAIN_TICK`.
    Plain,
    /// The summary and errors only (`--progress none`).
    Summary,
    /// Errors only (`-q`).
    Quiet,
}

impl Output {
    pub(crate) fn from_args(args: &OutputArgs) -> Output {
        let progress = if args.quiet {
            Progress::Quiet
        } else {
            match args.progress {
                ProgressMode::Bar => Progress::Bars,
                ProgressMode::Plain => Progress::Plain,
                ProgressMode::None => Progress::Summary,
                ProgressMode::Auto if std::io::stderr().is_terminal() => Progress::Bars,
                ProgressMode::Auto => Progress::Plain,
            }
        };
        let plain_tick = test_hook("FETCHPOOL_TEST_PROGRESS_MS")
            .and_then(|v| v.to_str().and_then(|v| v.parse().ok()))
            .map_or(Duration::from_secs(10), Duration::from_millis);
        Output {
            progress,
            json: args.json,
            plain_tick,
            manifests: false,
        }
    }
}

/// HTTP client settings shared by every download of a run.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    /// Idle connections kept per host: at least the number of concurrent downloads.
    pub max_idle_per_host: usize,
    pub connect_timeout: Duration,
    /// No body bytes for this long fails the attempt.
    pub stall_timeout: Duration,
    pub max_redirects: u32,
    pub user_agent: String,
    pub backoff: Backoff,
    /// `-H` headers, in order.
    pub headers: Vec<(String, String)>,
    pub netrc: Option<Arc<Netrc>>,
    /// The certificates to trust (see `download::tls`), loaded by the first TLS
    /// connection; unused with `insecure`.
    pub trust: Arc<LazyTrust>,
    pub insecure: bool,
    /// Which proxy each URL goes through (`--proxy`, `--noproxy`, the environment).
    pub proxies: Arc<ProxyRules>,
    /// Follow https ─► http redirects.
    pub allow_downgrade: bool,
}

impl Http {
    /// The settings `net` asks for; keep-alive sized for 8 downloads until `with_jobs`.
    pub(crate) fn from_args(net: &NetArgs) -> Result<Http, Error> {
        let defaults = Http::for_jobs(NonZeroUsize::new(8).expect("8 is not 0"));
        let headers = net
            .headers
            .iter()
            .map(|h| parse_header(h))
            .collect::<Result<Vec<_>, _>>()?;
        let netrc_path = match (&net.netrc_file, net.netrc) {
            (Some(path), _) => Some(path.clone()),
            // As ftp and Python's netrc read it: NETRC names the file --netrc reads.
            (None, true) => match std::env::var_os("NETRC").filter(|v| !v.is_empty()) {
                Some(path) => Some(PathBuf::from(path)),
                None => Some(
                    std::env::home_dir()
                        .ok_or_else(|| Error::Usage("--netrc: no home directory".into()))?
                        .join(".netrc"),
                ),
            },
            (None, false) => None,
        };
        let netrc = netrc_path
            .map(|p| read_netrc(&p))
            .transpose()?
            .map(Arc::new);
        // Certificates are read by the first TLS connection (an http-only run reads
        // none), but files named on the command line are checked now, like any other
        // option: a bad one is a usage error before any work. --insecure trusts nothing.
        let trust = LazyTrust::new(net.cacert.as_deref(), net.capath.as_deref(), &|name| {
            std::env::var_os(name)
        });
        if !net.insecure && trust.is_from_options() {
            trust.get().map_err(|e| Error::Usage(e.to_string()))?;
        }
        let proxies =
            ProxyRules::from_sources(net.proxy.as_deref(), net.noproxy.as_deref(), &|name| {
                std::env::var(name).ok()
            })
            .map_err(Error::Usage)?;
        if net.insecure {
            crate::report::note(
                "warning: --insecure: TLS certificates are NOT verified; anyone on the network \
                 path can read and change these downloads",
            );
        }
        Ok(Http {
            user_agent: net
                .user_agent
                .clone()
                .unwrap_or(defaults.user_agent.clone()),
            headers,
            netrc,
            trust: Arc::new(trust),
            insecure: net.insecure,
            proxies: Arc::new(proxies),
            allow_downgrade: net.allow_insecure_redirect,
            connect_timeout: net.connect_timeout,
            stall_timeout: net.stall_timeout,
            max_redirects: net.max_redirects,
            backoff: Backoff {
                retries: net.retries,
                base: net.retry_wait,
                ..defaults.backoff
            }
            .scaled_for_tests(),
            ..defaults
        })
    }

    /// Keeps enough idle connections per host for `jobs` concurrent downloads.
    pub(crate) fn with_jobs(self, jobs: NonZeroUsize) -> Http {
        Http {
            max_idle_per_host: jobs.get(),
            ..self
        }
    }

    pub(crate) fn for_jobs(jobs: NonZeroUsize) -> Http {
        Http {
            max_idle_per_host: jobs.get(),
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            max_redirects: 10,
            user_agent: format!("fetchpool/{}", env!("CARGO_PKG_VERSION")),
            backoff: Backoff {
                retries: 3,
                base: Duration::from_secs(1),
                max: Duration::from_secs(30),
                max_retry_after: Duration::from_secs(120),
            }
            .scaled_for_tests(),
            headers: Vec::new(),
            netrc: None,
            trust: Arc::new(LazyTrust::system()),
            insecure: false,
            // The environment's proxies; a variable that does not parse is ignored here
            // (`get` reports it as an error, through `from_args`).
            proxies: Arc::new(
                ProxyRules::from_sources(None, None, &|name| std::env::var(name).ok())
                    .unwrap_or_default(),
            ),
            allow_downgrade: false,
        }
    }
}

/// `'Name: value'` ─► (name, value), checked so ureq cannot reject it later.
fn parse_header(raw: &str) -> Result<(String, String), Error> {
    let bad = |why: &str| Error::Usage(format!("-H '{raw}': {why}"));
    let (name, value) = raw
        .split_once(':')
        .ok_or_else(|| bad("expected 'Name: value'"))?;
    let name = name.trim();
    let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_token) {
        return Err(bad("not a valid header name"));
    }
    let value = value.trim();
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(bad("header values cannot contain line breaks"));
    }
    Ok((name.to_string(), value.to_string()))
}

fn read_netrc(path: &Path) -> Result<Netrc, Error> {
    let text = std::fs::read_to_string(path).map_err(|io_error| Error::ReadInput {
        path: path.to_path_buf(),
        io_error,
    })?;
    Netrc::parse(&text).map_err(|reason| Error::Usage(format!("{}: {reason}", path.display())))
}

/// A list of URLs to read: a file, or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListSource {
    Stdin,
    File(PathBuf),
}

/// Everything `get` needs, validated.
#[derive(Debug, Clone)]
pub(crate) struct Get {
    pub urls: Vec<String>,
    pub lists: Vec<ListSource>,
    pub dir: PathBuf,
    pub jobs: NonZeroUsize,
    pub overwrite: bool,
    /// Resume `.part` files from earlier runs (off with --no-continue).
    pub resume: bool,
    pub checksums: Vec<String>,
    pub base_url: Option<String>,
    pub write_checksums: Option<PathBuf>,
    /// Write the failed jobs here, as a list `-i` can read.
    pub failed: Option<PathBuf>,
    pub hash: PoolConfig,
    pub http: Http,
    pub output: Output,
    /// Only this shard's jobs (all when `None`).
    pub shard: Option<Shard>,
    /// Concurrent downloads per host:port (no cap beyond `jobs` when `None`).
    pub max_per_host: Option<NonZeroUsize>,
    /// The whole run's download rate (no cap when `None`).
    pub limit_rate: Option<BytesPerSecond>,
    /// fsync each file before its rename, and the directory at the end.
    pub fsync: bool,
    /// When idle threads split big files (`None`: --no-split).
    pub split: Option<SplitPolicy>,
    /// Test hook `FETCHPOOL_TEST_PANIC_ON=NAME`: the download thread of the job with this
    /// output name panics, to show that a bug fails that file and not the run.
    pub panic_on: Option<String>,
    /// `--signed-by`: the -c manifests are believed only if one of these keys signed them.
    pub signed_by: Option<Arc<Keyring>>,
    /// `--signature`: where the (one) manifest's signature is.
    pub signature: Option<String>,
    /// A job without a known digest fails (on with --signed-by).
    pub require_digest: bool,
}

/// `-i` arguments ─► list sources; `-` (standard input) may appear once.
pub(crate) fn list_sources(inputs: &[PathBuf]) -> Result<Vec<ListSource>, Error> {
    let lists: Vec<ListSource> = inputs
        .iter()
        .map(|p| match p.as_os_str() == "-" {
            true => ListSource::Stdin,
            false => ListSource::File(p.clone()),
        })
        .collect();
    if lists.iter().filter(|l| **l == ListSource::Stdin).count() > 1 {
        return Err(Error::Usage(
            "'-i -' (standard input) can be given only once".into(),
        ));
    }
    Ok(lists)
}

impl Get {
    pub(crate) fn from_args(args: GetArgs) -> Result<Get, Error> {
        let lists = list_sources(&args.inputs)?;
        // `get -c https://host/rel/SHA256SUMS` alone fetches the release: the manifest's
        // directory is the base URL.
        let base_url = match (&args.base_url, &args.checksums[..]) {
            (None, [manifest]) if args.urls.is_empty() && lists.is_empty() => {
                url_directory(manifest)
            }
            _ => args.base_url.clone(),
        };
        if args.urls.is_empty() && lists.is_empty() && base_url.is_none() {
            return Err(Error::Usage(
                "nothing to download: give URLs, -i FILE, or --base-url with -c MANIFEST \
                 (see 'fetchpool get --help')"
                    .into(),
            ));
        }
        if args.base_url.is_some() && args.checksums.is_empty() {
            return Err(Error::Usage(
                "--base-url needs -c MANIFEST: the manifest names the files to download".into(),
            ));
        }
        let signed_by = keyring(&args.signed_by)?;
        let has_manifests = !args.checksums.is_empty();
        if signed_by.is_some() && args.checksums.is_empty() {
            return Err(Error::Usage(
                "--signed-by needs -c MANIFEST: the keys vouch for a manifest".into(),
            ));
        }
        if args.signature.is_some() && args.checksums.len() != 1 {
            return Err(Error::Usage(
                "--signature needs exactly one -c MANIFEST".into(),
            ));
        }
        Ok(Get {
            urls: args.urls,
            lists,
            dir: args.dir,
            jobs: args.jobs,
            overwrite: args.overwrite,
            resume: !args.no_continue,
            checksums: args.checksums,
            base_url,
            write_checksums: args.write_checksums,
            failed: args.failed,
            hash: pool_config(args.hash_workers)?,
            http: Http::from_args(&args.net)?.with_jobs(args.jobs),
            output: Output {
                manifests: has_manifests,
                ..Output::from_args(&args.output)
            },
            shard: args.shard,
            // A cap at or above -j caps nothing.
            max_per_host: args.max_per_host.filter(|n| *n < args.jobs),
            limit_rate: args.limit_rate,
            fsync: args.fsync,
            split: (!args.no_split).then(|| SplitPolicy {
                min_split_bytes: args.min_split_size,
                max_connections: args
                    .max_connections_per_file
                    .map_or(args.jobs.get(), |n| n.get().min(args.jobs.get())),
            }),
            panic_on: test_hook("FETCHPOOL_TEST_PANIC_ON")
                .map(|name| name.to_string_lossy().into_owned()),
            require_digest: args.require_digest || signed_by.is_some(),
            signed_by,
            signature: args.signature,
        })
    }
}

/// The directory of an http(s) URL, with its trailing slash (`None` for a path).
fn url_directory(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let path_at = rest.find('/')?;
    let path = &rest[path_at..];
    let path = &path[..path.find(['?', '#']).unwrap_or(path.len())];
    let dir_len = path.rfind('/').expect("the path starts with /") + 1;
    Some(url[..url.len() - rest.len() + path_at + dir_len].to_string())
}

/// `--signed-by` values ─► the keys (`None` when none were given). A value is a key file,
/// or a minisign public key given as its `RW...` string.
pub(crate) fn keyring(specs: &[String]) -> Result<Option<Arc<Keyring>>, Error> {
    if specs.is_empty() {
        return Ok(None);
    }
    let mut ring = Keyring::default();
    for spec in specs {
        let path = Path::new(spec);
        let is_key_string = spec.starts_with("RW") && !spec.contains('/') && !path.exists();
        let bytes = if is_key_string {
            spec.as_bytes().to_vec()
        } else {
            std::fs::read(path).map_err(|io_error| Error::ReadInput {
                path: path.to_path_buf(),
                io_error,
            })?
        };
        ring.add(&bytes)
            .map_err(|bad| Error::Usage(format!("--signed-by {spec}: {}", bad.0)))?;
    }
    Ok(Some(Arc::new(ring)))
}

/// The hash worker pool: `n` workers (default: one per CPU) running this executable.
pub(crate) fn pool_config(workers: Option<NonZeroUsize>) -> Result<PoolConfig, Error> {
    let exe = std::env::current_exe().map_err(|io_error| Error::SpawnWorkers {
        exe: PathBuf::from("fetchpool"),
        io_error,
    })?;
    let workers = workers
        .unwrap_or_else(|| std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN));
    Ok(PoolConfig {
        exe,
        workers,
        abort_on: test_hook("FETCHPOOL_TEST_WORKER_ABORT"),
    })
}

impl Backoff {
    /// `FETCHPOOL_TEST_BACKOFF_MS=N` replaces every wait (base, cap, Retry-After cap) with
    /// N ms, so retry tests stay fast and bounded.
    fn scaled_for_tests(self) -> Backoff {
        match test_hook("FETCHPOOL_TEST_BACKOFF_MS")
            .and_then(|v| v.to_str().and_then(|v| v.parse::<u64>().ok()))
        {
            Some(ms) => Backoff {
                base: Duration::from_millis(ms),
                max: Duration::from_millis(ms),
                max_retry_after: Duration::from_millis(ms),
                ..self
            },
            None => self,
        }
    }
}

/// Test hook `FETCHPOOL_TEST_DEMO_SHRINK=N`: `demo` in miniature, every file's size and
/// the pace divided by N, so a test sees a whole run (or interrupts one) in the same few
/// seconds with 1/N of the bytes. 1 without it.
pub(crate) fn demo_shrink() -> u64 {
    test_hook("FETCHPOOL_TEST_DEMO_SHRINK")
        .and_then(|v| v.to_str().and_then(|v| v.parse().ok()))
        .filter(|n: &u64| *n > 0)
        .unwrap_or(1)
}

/// Reads a `FETCHPOOL_TEST_*` hook. Hooks exist so tests can inject faults and shorten
/// waits; they are documented in tests/, not for users.
///
/// Compiled only into debug builds (`cfg(debug_assertions)`): the integration tests run the
/// real binary that `cargo test` builds, in the debug profile, so they need no feature flag
/// to remember; a release build (`cargo install`, `cargo build --release`) reads no hook.
#[cfg(debug_assertions)]
fn test_hook(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

#[cfg(not(debug_assertions))]
fn test_hook(_name: &str) -> Option<OsString> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_url_directory_keeps_its_trailing_slash() {
        let dir = |u| url_directory(u);
        assert_eq!(
            dir("https://h/rel/SHA256SUMS").as_deref(),
            Some("https://h/rel/")
        );
        assert_eq!(dir("http://h:8/SUMS?x=/y").as_deref(), Some("http://h:8/"));
        assert_eq!(dir("https://h"), None);
        assert_eq!(dir("SHA256SUMS"), None);
    }
}
