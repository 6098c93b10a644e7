//! `fetchpool check`: wiring only. Reads every URL first (a bad list line stops the run
//! before any request), runs rounds of probes on a bounded pool, hands the results back
//! in input order to `report::check`, and decides the exit status.

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
use crate::report;
use crate::settings::{Http, ListSource};
use crate::signals;

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
        let lists = crate::settings::list_sources(&args.inputs)?;
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
    // First SIGINT/SIGTERM: start no more probes (running ones end within --timeout),
    // print the summary, exit 130.
    let interrupt = signals::on_interrupt(&interrupted, &[&stop]);

    let agent = probe_agent(&check.http, check.timeout);
    let (jobs, pool) = spawn_probers(check.jobs, agent, check.timeout, check.expect.clone());
    let mut out = report::check::Out::new(check.json, check.quiet);
    let mut stats: Vec<report::check::Stats> = targets.iter().map(|_| Default::default()).collect();
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
    if let Some(code) = interrupt.exit() {
        status = exit::merge(status, code);
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

/// `threads` probe threads on the same bounded feeding as the download pool.
fn spawn_probers(
    threads: NonZeroUsize,
    agent: Agent,
    timeout: Duration,
    expect: StatusSet,
) -> (SyncSender<Job>, ThreadPool) {
    bounded_workers("probe", threads, move |job: Job| {
        let probe = probe::probe(&agent, &job.url, timeout, &expect);
        let _ = job.results.send((job.index, probe));
    })
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

/// `threads` threads (a threadpool) taking jobs from a bounded channel: however long the
/// input, at most `2 × threads` jobs wait in memory. Drop the sender to let them finish.
fn bounded_workers<J: Send + 'static>(
    name: &str,
    threads: NonZeroUsize,
    work: impl Fn(J) + Send + Sync + 'static,
) -> (SyncSender<J>, ThreadPool) {
    let (tx, rx) = sync_channel::<J>(threads.get() * 2);
    let rx = Arc::new(Mutex::new(rx));
    let work = Arc::new(work);
    let pool = ThreadPool::with_name(name.into(), threads.get());
    for _ in 0..threads.get() {
        let rx = Arc::clone(&rx);
        let work = Arc::clone(&work);
        pool.execute(move || {
            loop {
                // The lock is held only while waiting for the next job, never during one.
                let next = rx.lock().map(|r| r.recv());
                let Ok(Ok(job)) = next else { break };
                work(job);
            }
        });
    }
    (tx, pool)
}
