//! `fetchpool check`: wiring only. Reads every URL first (a bad list line stops the run
//! before any request), runs rounds of probes on a bounded pool, hands the results back
//! in input order to `render`, and decides the exit status.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use threadpool::ThreadPool;
use ureq::Agent;

use crate::cli::CheckArgs;
use crate::download::http::{probe_agent, redact_url};
use crate::error::Error;
use crate::exit::{self, Exit};
use crate::input::url_list;
use crate::job::Origin;
use crate::probe::{self, Probe, StatusSet};
use crate::settings::{Http, ListSource};

/// Time between round starts when --count is given without --interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// How often a wait between rounds looks at the stop flag.
const STOP_POLL: Duration = Duration::from_millis(50);

/// Everything `check` needs, validated. (Kept beside its only user; `settings.rs` holds
/// the shared pieces it is built from.)
#[derive(Debug, Clone)]
pub(crate) struct Check {
    urls: Vec<String>,
    lists: Vec<ListSource>,
    jobs: NonZeroUsize,
    timeout: Duration,
    expect: StatusSet,
    rounds: NonZeroU32,
    /// From the start of one round to the start of the next.
    interval: Duration,
    json: bool,
    quiet: bool,
    http: Http,
}

impl Check {
    pub(crate) fn from_args(args: CheckArgs) -> Result<Check, Error> {
        let lists: Vec<ListSource> = args
            .inputs
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
        if args.urls.is_empty() && lists.is_empty() {
            return Err(Error::Usage(
                "nothing to check: give URLs or -i FILE (see 'fetchpool check --help')".into(),
            ));
        }
        Ok(Check {
            urls: args.urls,
            lists,
            jobs: args.jobs,
            timeout: args.timeout,
            expect: args.expect_status,
            rounds: args.count.unwrap_or(NonZeroU32::MIN),
            interval: args.interval.unwrap_or(DEFAULT_INTERVAL),
            json: args.json,
            quiet: args.quiet,
            http: Http::for_jobs(args.jobs),
        })
    }
}

/// A URL to probe, and how it is shown.
pub(crate) struct Target {
    url: Arc<str>,
    /// Without userinfo.
    shown: String,
}

/// One probe to run: the reply goes to `results`, tagged with the URL's place in the input.
struct Job {
    index: usize,
    url: Arc<str>,
    results: Sender<(usize, Probe)>,
}

pub(crate) fn run(check: Check) -> Result<Exit, Error> {
    let targets = read_targets(&check)?;
    let interrupted = Arc::new(AtomicBool::new(false));
    // Set on a signal or when stdout closes: start no more probes or rounds.
    let stop = Arc::new(AtomicBool::new(false));
    install_signal_handlers(&interrupted, &stop);

    let agent = probe_agent(&check.http, check.timeout);
    let (jobs, pool) = spawn_probers(check.jobs, agent, check.timeout, check.expect.clone());
    let mut out = render::Out::new(check.json, check.quiet);
    let mut stats: Vec<render::Stats> = targets.iter().map(|_| Default::default()).collect();
    let mut rounds_run = 0;
    let first_start = Instant::now();
    for round in 1..=check.rounds.get() {
        if round > 1 {
            let next_start = first_start + check.interval * (round - 1);
            sleep_until(next_start, &stop);
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
        rounds_run = round;
        run_round(&targets, &jobs, &stop, |index, probe| {
            stats[index].record(&probe);
            if !out.probe(round, &targets[index].shown, &probe) {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
    drop(jobs);
    pool.join();

    let all_up = stats.iter().all(|s| s.up == s.probes);
    let mut status = if all_up { Exit::Ok } else { Exit::Failed };
    if interrupted.load(Ordering::Relaxed) {
        status = exit::merge(status, Exit::Interrupted);
    }
    let shown: Vec<&str> = targets.iter().map(|t| t.shown.as_str()).collect();
    out.summary(check.rounds.get(), rounds_run, &shown, &stats, status);
    Ok(status)
}

/// Every URL of the arguments, then of each list in order. Any bad line is an error here,
/// before a single request is made.
fn read_targets(check: &Check) -> Result<Vec<Target>, Error> {
    let mut urls = Vec::new();
    let argument: Arc<str> = Arc::from("argument");
    for (i, arg) in check.urls.iter().enumerate() {
        let origin = Origin {
            source: Arc::clone(&argument),
            line: i + 1,
        };
        if let Some(spec) = url_list::parse_line(arg, origin)? {
            urls.push(spec.url);
        }
    }
    for list in &check.lists {
        let specs: Vec<_> = match list {
            ListSource::Stdin => url_list::parse(io::stdin().lock(), Arc::from("-")).collect(),
            ListSource::File(path) => {
                let file = File::open(path).map_err(|io_error| Error::ReadInput {
                    path: path.clone(),
                    io_error,
                })?;
                let source: Arc<str> = Arc::from(path.to_string_lossy().as_ref());
                url_list::parse(BufReader::new(file), source).collect()
            }
        };
        for spec in specs {
            urls.push(spec?.url);
        }
    }
    if urls.is_empty() {
        return Err(Error::Usage(
            "nothing to check: the lists hold no URLs".into(),
        ));
    }
    Ok(urls
        .into_iter()
        .map(|url| Target {
            shown: redact_url(&url),
            url: Arc::from(url),
        })
        .collect())
}

/// `threads` probe threads taking jobs from a bounded channel, as the download pool does:
/// however long the list, at most `2 × threads` jobs wait in memory.
fn spawn_probers(
    threads: NonZeroUsize,
    agent: Agent,
    timeout: Duration,
    expect: StatusSet,
) -> (SyncSender<Job>, ThreadPool) {
    let (tx, rx) = sync_channel::<Job>(threads.get() * 2);
    let rx = Arc::new(Mutex::new(rx));
    let pool = ThreadPool::with_name("probe".into(), threads.get());
    for _ in 0..threads.get() {
        let rx = Arc::clone(&rx);
        let agent = agent.clone();
        let expect = expect.clone();
        pool.execute(move || {
            loop {
                // The lock is held only while waiting for the next job, never during one.
                let next = rx.lock().map(|r| r.recv());
                let Ok(Ok(job)) = next else { break };
                let probe = probe::probe(&agent, &job.url, timeout, &expect);
                let _ = job.results.send((job.index, probe));
            }
        });
    }
    (tx, pool)
}

/// Probes every target once and calls `on_result` in input order, each as soon as it and
/// every one before it are in. A feeder thread keeps the pool busy meanwhile.
fn run_round(
    targets: &[Target],
    jobs: &SyncSender<Job>,
    stop: &AtomicBool,
    mut on_result: impl FnMut(usize, Probe),
) {
    let (results, rx) = channel();
    thread::scope(|scope| {
        scope.spawn(move || {
            for (index, target) in targets.iter().enumerate() {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let job = Job {
                    index,
                    url: Arc::clone(&target.url),
                    results: results.clone(),
                };
                if jobs.send(job).is_err() {
                    break;
                }
            }
        });
        // Ends when the feeder and every job it sent have dropped their senders.
        let mut early = BTreeMap::new();
        let mut next = 0;
        for (index, probe) in rx {
            early.insert(index, probe);
            while let Some(probe) = early.remove(&next) {
                on_result(next, probe);
                next += 1;
            }
        }
        // Stopped mid-round: what did come back is still shown, in order.
        for (index, probe) in early {
            on_result(index, probe);
        }
    });
}

fn sleep_until(deadline: Instant, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        thread::sleep((deadline - now).min(STOP_POLL));
    }
}

/// First SIGINT/SIGTERM: start no more probes (running ones end within --timeout), print
/// the summary, exit 130. A second one exits at once with 130.
fn install_signal_handlers(interrupted: &Arc<AtomicBool>, stop: &Arc<AtomicBool>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::flag;
    for sig in [SIGINT, SIGTERM] {
        // Order matters: the conditional exit must see the flag from the *previous* signal.
        let _ = flag::register_conditional_shutdown(sig, 130, Arc::clone(interrupted));
        let _ = flag::register(sig, Arc::clone(interrupted));
        let _ = flag::register(sig, Arc::clone(stop));
    }
}

/// Everything `check` prints: probe lines, JSON objects and the summary. The report of
/// this subcommand; every byte goes through `Out::write`.
mod render {
    use std::io::{self, Write};
    use std::time::Duration;

    use serde_json::{Value, json};

    use crate::error::plain_io;
    use crate::exit::Exit;
    use crate::probe::Probe;

    /// One URL's probes over all rounds.
    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    pub(crate) struct Stats {
        pub(crate) probes: u32,
        pub(crate) up: u32,
        /// Of every probe that got an answer, UP or not, in arrival order.
        pub(crate) latencies: Vec<Duration>,
    }

    impl Stats {
        pub(crate) fn record(&mut self, probe: &Probe) {
            self.probes += 1;
            self.up += u32::from(probe.is_up());
            self.latencies.extend(probe.latency);
        }

        /// (min, median, max), when any probe got an answer. An even count's median is
        /// the mean of the middle two.
        pub(crate) fn spread(&self) -> Option<(Duration, Duration, Duration)> {
            let mut sorted = self.latencies.clone();
            sorted.sort_unstable();
            let (&min, &max) = (sorted.first()?, sorted.last()?);
            let mid = sorted.len() / 2;
            let median = match sorted.len() % 2 {
                1 => sorted[mid],
                _ => (sorted[mid - 1] + sorted[mid]) / 2,
            };
            Some((min, median, max))
        }
    }

    #[derive(Debug, Clone, Copy)]
    enum Stream {
        Stdout,
        Stderr,
    }

    pub(crate) struct Out {
        json: bool,
        quiet: bool,
        stdout_open: bool,
    }

    impl Out {
        pub(crate) fn new(json: bool, quiet: bool) -> Out {
            Out {
                json,
                quiet,
                stdout_open: true,
            }
        }

        /// Shows one probe. False once stdout is closed: the run should stop.
        pub(crate) fn probe(&mut self, round: u32, url: &str, probe: &Probe) -> bool {
            if self.json {
                self.write(Stream::Stdout, &probe_json(round, url, probe).to_string());
            }
            if !(self.quiet && probe.is_up()) {
                self.human(&probe_line(url, probe));
            }
            self.stdout_open
        }

        /// The end of the run: a line per URL when there were rounds (unless -q), and the
        /// JSON summary object.
        pub(crate) fn summary(
            &mut self,
            rounds: u32,
            rounds_run: u32,
            urls: &[&str],
            stats: &[Stats],
            exit: Exit,
        ) {
            if rounds > 1 && !self.quiet {
                self.human(&format!("summary of {rounds_run} rounds:"));
                for (url, s) in urls.iter().zip(stats) {
                    self.human(&summary_line(url, s));
                }
            }
            if self.json {
                let value = summary_json(rounds_run, urls, stats, exit);
                self.write(Stream::Stdout, &value.to_string());
            }
        }

        /// Human lines go to stdout, or to stderr when stdout carries JSON.
        fn human(&mut self, text: &str) {
            let stream = match self.json {
                true => Stream::Stderr,
                false => Stream::Stdout,
            };
            self.write(stream, text);
        }

        /// The one place that writes. A closed stdout (`| head`) ends output there quietly;
        /// any other write error on it is said once on stderr.
        fn write(&mut self, stream: Stream, text: &str) {
            match stream {
                Stream::Stderr => {
                    let _ = writeln!(io::stderr().lock(), "{text}");
                }
                Stream::Stdout if self.stdout_open => {
                    let mut out = io::stdout().lock();
                    if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
                        self.stdout_open = false;
                        if e.kind() != io::ErrorKind::BrokenPipe {
                            let msg = format!(
                                "fetchpool: cannot write to standard output: {}",
                                plain_io(&e)
                            );
                            self.write(Stream::Stderr, &msg);
                        }
                    }
                }
                Stream::Stdout => {}
            }
        }
    }

    /// `UP    200     12 ms  URL`, `DOWN  -        -     URL  (connection refused)`.
    pub(crate) fn probe_line(url: &str, probe: &Probe) -> String {
        let word = if probe.is_up() { "UP" } else { "DOWN" };
        let status = probe
            .http_status
            .map_or_else(|| "-".to_string(), |s| s.to_string());
        let latency = match probe.latency {
            Some(d) => format!("{:>6} ms", millis(d)),
            None => format!("{:>6}   ", "-"),
        };
        let mut line = format!("{word:<6}{status:<4}{latency}  {url}");
        if let Some(reason) = &probe.down {
            line += &format!("  ({reason})");
        }
        line
    }

    /// `  3/3 up  min 0.4 ms  median 0.5 ms  max 1.2 ms  URL`.
    pub(crate) fn summary_line(url: &str, s: &Stats) -> String {
        let spread = match s.spread() {
            Some((min, median, max)) => format!(
                "min {} ms  median {} ms  max {} ms",
                millis(min),
                millis(median),
                millis(max)
            ),
            None => "no answers".to_string(),
        };
        format!(
            "  {:>7} up  {spread}  {url}",
            format!("{}/{}", s.up, s.probes)
        )
    }

    pub(crate) fn probe_json(round: u32, url: &str, probe: &Probe) -> Value {
        json!({
            "url": url,
            "status": if probe.is_up() { "up" } else { "down" },
            "http_status": probe.http_status,
            "latency_ms": probe.latency.map(json_millis),
            "error": probe.down.as_ref().map(ToString::to_string),
            "round": round,
        })
    }

    pub(crate) fn summary_json(
        rounds_run: u32,
        urls: &[&str],
        stats: &[Stats],
        exit: Exit,
    ) -> Value {
        let per_url: Vec<Value> = urls
            .iter()
            .zip(stats)
            .map(|(url, s)| {
                let spread = s.spread();
                json!({
                    "url": url,
                    "probes": s.probes,
                    "up": s.up,
                    "up_ratio": if s.probes == 0 { None } else { Some(f64::from(s.up) / f64::from(s.probes)) },
                    "min_ms": spread.map(|(d, _, _)| json_millis(d)),
                    "median_ms": spread.map(|(_, d, _)| json_millis(d)),
                    "max_ms": spread.map(|(_, _, d)| json_millis(d)),
                })
            })
            .collect();
        let probes: u32 = stats.iter().map(|s| s.probes).sum();
        let up: u32 = stats.iter().map(|s| s.up).sum();
        json!({
            "summary": true,
            "rounds": rounds_run,
            "probes": probes,
            "up": up,
            "down": probes - up,
            "exit_code": exit.code(),
            "urls": per_url,
        })
    }

    /// Whole milliseconds from 10 ms up; one decimal below, where loopback and LAN live.
    fn millis(d: Duration) -> String {
        let ms = d.as_secs_f64() * 1000.0;
        if ms < 10.0 {
            format!("{ms:.1}")
        } else {
            format!("{ms:.0}")
        }
    }

    /// Milliseconds to 0.1 ms, for JSON.
    fn json_millis(d: Duration) -> f64 {
        (d.as_secs_f64() * 10_000.0).round() / 10.0
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::probe::Reason;

        fn up(status: u16, ms: u64) -> Probe {
            Probe {
                http_status: Some(status),
                latency: Some(Duration::from_millis(ms)),
                down: None,
            }
        }

        #[test]
        fn probe_lines_line_up_in_columns() {
            let refused = Probe {
                http_status: None,
                latency: None,
                down: Some(Reason::Refused),
            };
            let bad = Probe {
                down: Some(Reason::Status(500)),
                ..up(500, 3)
            };
            assert_eq!(
                probe_line("http://a/", &up(200, 12)),
                "UP    200     12 ms  http://a/"
            );
            assert_eq!(
                probe_line("http://b/", &bad),
                "DOWN  500    3.0 ms  http://b/  (unexpected status 500)"
            );
            assert_eq!(
                probe_line("http://c/", &refused),
                "DOWN  -        -     http://c/  (connection refused)"
            );
        }

        #[test]
        fn spread_is_min_median_max_of_answered_probes() {
            let mut s = Stats::default();
            assert_eq!(s.spread(), None);
            for ms in [30, 10, 20] {
                s.record(&up(200, ms));
            }
            s.record(&Probe {
                http_status: None,
                latency: None,
                down: Some(Reason::Refused),
            });
            let ms = Duration::from_millis;
            assert_eq!(s.spread(), Some((ms(10), ms(20), ms(30))));
            assert_eq!((s.up, s.probes), (3, 4));
            s.record(&up(200, 40));
            assert_eq!(s.spread(), Some((ms(10), ms(25), ms(40))));
        }

        #[test]
        fn summary_lines_show_ratio_and_spread() {
            let mut s = Stats::default();
            s.record(&up(200, 12));
            s.record(&Probe {
                http_status: None,
                latency: None,
                down: Some(Reason::Refused),
            });
            assert_eq!(
                summary_line("http://a/", &s),
                "      1/2 up  min 12 ms  median 12 ms  max 12 ms  http://a/"
            );
            assert_eq!(
                summary_line("http://a/", &Stats::default()),
                "      0/0 up  no answers  http://a/"
            );
        }

        #[test]
        fn json_objects_carry_the_documented_fields() {
            let v = probe_json(2, "http://a/", &up(204, 5));
            assert_eq!(
                v,
                json!({"url": "http://a/", "status": "up", "http_status": 204,
                       "latency_ms": 5.0, "error": null, "round": 2})
            );
            let mut s = Stats::default();
            s.record(&up(200, 5));
            let v = summary_json(1, &["http://a/"], &[s], Exit::Ok);
            assert_eq!(v["summary"], true);
            assert_eq!(v["exit_code"], 0);
            assert_eq!(v["urls"][0]["up_ratio"], 1.0);
            assert_eq!(v["urls"][0]["median_ms"], 5.0);
        }
    }
}
